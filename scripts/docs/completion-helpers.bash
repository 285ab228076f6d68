# Helpers of mpiscsi's bash completion scripts (defined once when several are loaded).

# Offers the words of $1 that start with $cur (mapfile, so keys like node.conn[0].x are not globbed).
if ! declare -F _mpiscsi_comp_words >/dev/null; then
  _mpiscsi_comp_words() { mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur"); }
fi

# $cur and $prev with --opt=value split as bash splits it (COMP_WORDBREAKS has =): "--opt" "=" "value".
if ! declare -F _mpiscsi_comp_init >/dev/null; then
  _mpiscsi_comp_init() {
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    if [[ $cur == = ]]; then
      cur=
    elif [[ $prev == = ]]; then
      prev=${COMP_WORDS[COMP_CWORD - 2]}
    fi
    COMPREPLY=()
  }
fi

# REPLY: the value of the last of the options $1 (space-separated names) before the cursor, or empty.
if ! declare -F _mpiscsi_comp_value >/dev/null; then
  _mpiscsi_comp_value() {
    local i w
    REPLY=
    for ((i = 1; i < COMP_CWORD; i++)); do
      w=${COMP_WORDS[i]}
      case " $1 " in
        *" $w "*)
          if [[ ${COMP_WORDS[i + 1]} == = ]]; then REPLY=${COMP_WORDS[i + 2]}; else REPLY=${COMP_WORDS[i + 1]}; fi
          ;;
      esac
    done
  }
fi

# REPLY: the subcommand, the first word before the cursor that is not an option, or empty.
if ! declare -F _mpiscsi_comp_subcommand >/dev/null; then
  _mpiscsi_comp_subcommand() {
    local i
    REPLY=
    for ((i = 1; i < COMP_CWORD; i++)); do
      if [[ ${COMP_WORDS[i]} != -* ]]; then
        REPLY=${COMP_WORDS[i]}
        return
      fi
    done
  }
fi
