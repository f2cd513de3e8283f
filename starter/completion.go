package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

var completionShells = []string{"bash", "zsh", "fish"}

func completionCommand(*flag.FlagSet) runFunc {
	return func(_ context.Context, args []string) error {
		switch args[0] {
		case "bash":
			writeBashCompletion(os.Stdout)
		case "zsh":
			writeZshCompletion(os.Stdout)
		case "fish":
			writeFishCompletion(os.Stdout)
		default:
			return usageError{"completion", fmt.Sprintf("unknown shell %q, want one of %s", args[0], strings.Join(completionShells, ", "))}
		}
		return nil
	}
}

// completedFlag is a flag as completion offers it.
type completedFlag struct {
	name, usage string
	takesValue  bool
}

// completedFlags are a command's flags, without vLLM's refused or
// ineffective ones.
func completedFlags(c command) []completedFlag {
	var out []completedFlag
	c.allFlags().VisitAll(func(f *flag.Flag) {
		if flagGroupOf(c, f.Name) == groupIgnored {
			return
		}
		b, isBool := f.Value.(interface{ IsBoolFlag() bool })
		_, usage := flag.UnquoteUsage(f)
		out = append(out, completedFlag{name: f.Name, usage: usage, takesValue: !isBool || !b.IsBoolFlag()})
	})
	return out
}

func commandNames() []string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return names
}

func writeBashCompletion(w io.Writer) {
	fmt.Fprintf(w, `# bash completion for starter: source <(starter completion bash)
_starter() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=($(compgen -W "%s --help --version" -- "$cur"))
    return
  fi
  if [[ ${COMP_WORDS[1]} == completion ]]; then
    COMPREPLY=($(compgen -W "%s" -- "$cur"))
    return
  fi
  [[ $cur == -* ]] || return
  local flags
  case ${COMP_WORDS[1]} in
`, strings.Join(commandNames(), " "), strings.Join(completionShells, " "))
	for _, c := range commands() {
		var names []string
		for _, f := range completedFlags(c) {
			names = append(names, "--"+f.name)
		}
		fmt.Fprintf(w, "    %s) flags=%q ;;\n", c.name, strings.Join(append(names, "--help"), " "))
	}
	fmt.Fprint(w, `  esac
  COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -o default -F _starter starter
`)
}

func writeZshCompletion(w io.Writer) {
	zq := func(s string) string { // inside '...' and _arguments' [...]
		return strings.NewReplacer("'", "'\\''", "[", "(", "]", ")", ":", " ", "\\", "").Replace(s)
	}
	fmt.Fprint(w, "#compdef starter\n# zsh completion for starter: source <(starter completion zsh)\n_starter() {\n  local -a commands\n  commands=(\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "    '%s:%s'\n", c.name, zq(c.summary))
	}
	fmt.Fprint(w, "  )\n  if (( CURRENT == 2 )); then\n    _describe 'command' commands\n    return\n  fi\n  case $words[2] in\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "    %s) _arguments", c.name)
		if c.name == "completion" {
			fmt.Fprintf(w, " '1:shell:(%s)'", strings.Join(completionShells, " "))
		}
		for _, f := range completedFlags(c) {
			value := ""
			if f.takesValue {
				value = ":value:"
			}
			fmt.Fprintf(w, " \\\n        '--%s[%s]%s'", f.name, zq(f.usage), value)
		}
		fmt.Fprint(w, " '*:file:_files' ;;\n")
	}
	fmt.Fprint(w, "  esac\n}\ncompdef _starter starter\n")
}

func writeFishCompletion(w io.Writer) {
	fq := func(s string) string {
		return "'" + strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "'", `\'`) + "'"
	}
	fmt.Fprint(w, "# fish completion for starter: starter completion fish | source\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "complete -c starter -f -n __fish_use_subcommand -a %s -d %s\n", c.name, fq(c.summary))
	}
	fmt.Fprintf(w, "complete -c starter -f -n '__fish_seen_subcommand_from completion' -a '%s'\n", strings.Join(completionShells, " "))
	for _, c := range commands() {
		for _, f := range completedFlags(c) {
			value := ""
			if f.takesValue {
				value = " -r"
			}
			fmt.Fprintf(w, "complete -c starter -n '__fish_seen_subcommand_from %s' -l %s%s -d %s\n", c.name, f.name, value, fq(f.usage))
		}
	}
}
