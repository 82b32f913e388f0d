
#compdef screenrec

_screenrec_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _SCREENREC_COMPLETE=complete_zsh screenrec)
}

compdef _screenrec_completion screenrec

