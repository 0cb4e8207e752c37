"""Shell completion: ``kubectl incident completion bash|zsh|fish``, and kubectl's own.

kubectl (1.26 and later) completes a plugin's arguments by running
``kubectl_complete-<plugin>`` with the words typed after the plugin's name, the last
being the word being completed, and reading Cobra's answer: one candidate a line, then
``:<directive>``. The ``kubectl_complete-incident`` executable and the hidden
``kubectl incident __complete`` command both answer that way, so the shell scripts
printed by ``completion`` use the same answer: subcommands, their flags, flag values
with a fixed set of choices, and the incidents' IDs and names, read from the cluster.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from incident_operator.cli.main import VALUED_GLOBALS, parser_for, subcommands

# Cobra's ShellCompDirectiveNoFileComp: no file names when nothing else matches.
NO_FILES = ":4"

BASH = """# bash completion for kubectl-incident (kubectl itself runs kubectl_complete-incident)
_kubectl_incident() {
    local IFS=$'\\n'
    local out
    out=$(kubectl-incident __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
    out=$(printf '%s\\n' "$out" | grep -v '^:' | cut -f1)
    COMPREPLY=($(compgen -W "$out" -- "${COMP_WORDS[COMP_CWORD]}"))
}
complete -F _kubectl_incident kubectl-incident
"""

ZSH = """#compdef kubectl-incident
# zsh completion for kubectl-incident
_kubectl_incident() {
    local out
    out=$(kubectl-incident __complete "${(@)words[2,CURRENT]}" 2>/dev/null)
    local -a candidates
    candidates=(${(f)"$(print -r -- "$out" | grep -v '^:' | cut -f1)"})
    compadd -a candidates
}
compdef _kubectl_incident kubectl-incident
"""

FISH = """# fish completion for kubectl-incident
function __kubectl_incident_complete
    set -l words (commandline -opc) (commandline -ct)
    kubectl-incident __complete $words[2..-1] 2>/dev/null \\
        | string match -v -r '^:' | string split -f1 \\t
end
complete -c kubectl-incident -f -a '(__kubectl_incident_complete)'
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH, "fish": FISH}


def add_completion(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``completion SHELL``; the hidden ``__complete`` is answered before parsing (see main)."""
    completion = commands.add_parser(
        "completion",
        help="print a shell completion script: bash, zsh or fish",
        description="Print a completion script for kubectl-incident. Under kubectl, put the "
        "kubectl_complete-incident executable (installed with the plugin) on PATH instead.",
    )
    completion.add_argument("shell", choices=sorted(SCRIPTS))
    completion.set_defaults(handler=None, offline=_print_script)
    return completion


def _print_script(args: argparse.Namespace) -> int:
    print(SCRIPTS[args.shell], end="")
    return 0


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: a for a in parser._actions for option in a.option_strings}


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if not a.option_strings and not isinstance(a, argparse._SubParsersAction)
    ]


def candidates(
    parser: argparse.ArgumentParser,
    words: Sequence[str],
    incidents: object,
) -> list[str]:
    """What may come as the last of ``words``; ``incidents()`` lists IDs and names,
    given the global options typed so far."""
    *typed, current = list(words) or [""]
    globals_, command, rest = _split(parser, typed)
    if command is None:
        if current.startswith("-"):
            return sorted(o for o in _options(parser) if o.startswith(current))
        if globals_ and globals_[-1] in VALUED_GLOBALS:
            return []
        return sorted(c for c in subcommands(parser) if c.startswith(current))
    sub = subcommands(parser)[command]
    options = _options(sub)
    if rest and rest[-1] in options and options[rest[-1]].nargs != 0:
        choices = options[rest[-1]].choices
        return sorted(str(c) for c in choices or () if str(c).startswith(current))
    if current.startswith("-"):
        return sorted(o for o in options if o.startswith(current))
    given = _count_positionals(options, rest)
    positionals = _positionals(sub)
    if given >= len(positionals) and not (positionals and positionals[-1].nargs == "+"):
        return []
    action = positionals[min(given, len(positionals) - 1)]
    if action.choices:
        return sorted(str(c) for c in action.choices if str(c).startswith(current))
    if action.dest == "incident" and callable(incidents):
        listed: list[str] = incidents(globals_)
        return [name for name in listed if name.startswith(current)]
    return []


def _split(
    parser: argparse.ArgumentParser, typed: list[str]
) -> tuple[list[str], str | None, list[str]]:
    """The global options, the command and what follows it."""
    commands = subcommands(parser)
    index = 0
    while index < len(typed):
        word = typed[index]
        if word in commands:
            return typed[:index], word, typed[index + 1 :]
        index += 2 if word in VALUED_GLOBALS else 1
    return typed, None, []


def _count_positionals(options: dict[str, argparse.Action], rest: list[str]) -> int:
    count, index = 0, 0
    while index < len(rest):
        word = rest[index]
        if word.startswith("-"):
            action = options.get(word.split("=", 1)[0])
            takes_value = action is not None and action.nargs != 0 and "=" not in word
            index += 2 if takes_value else 1
            continue
        count += 1
        index += 1
    return count


def _incidents_from_cluster(globals_: list[str]) -> list[str]:
    """The incidents' IDs and names in the namespace the typed options pick; none when
    the cluster cannot be reached (completion never fails loudly)."""
    from incident_operator.cli.cluster import Cluster

    picked = argparse.ArgumentParser(add_help=False)
    for option in ("--kubeconfig", "--context"):
        picked.add_argument(option)
    picked.add_argument("--as", dest="as_user")
    picked.add_argument("-n", "--namespace")
    picked.add_argument("--as-group", action="append")
    chosen, _ = picked.parse_known_args(globals_)
    try:
        cluster = Cluster.connect(
            chosen.kubeconfig,
            chosen.context,
            chosen.namespace,
            5.0,
            impersonate=chosen.as_user,
            groups=chosen.as_group or [],
        )
        items = cluster.list_incidents()
    except Exception:  # nothing to complete is the answer to any failure
        return []
    ids = sorted((i.get("status") or {}).get("id") or "" for i in items)
    return [*(i for i in ids if i), *sorted(i["metadata"]["name"] for i in items)]


def answer(words: Sequence[str]) -> int:
    """Cobra's answer for ``words``: candidates, then the directive."""
    parser = parser_for(list(words)[:-1])  # the word being typed may be the command
    for candidate in candidates(parser, words, _incidents_from_cluster):
        print(candidate)
    print(NO_FILES)
    return 0


def kubectl_complete() -> int:
    """The ``kubectl_complete-incident`` executable kubectl runs to complete the plugin."""
    words = sys.argv[1:]
    if words[:1] == ["__complete"]:
        words = words[1:]
    return answer(words)
