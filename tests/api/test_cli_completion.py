"""The shell completions and manual pages of nubo, generated from the CLI's
own command tables (`nubo completion bash|zsh|help2man`, a walk of every
command: src/cli/cmdtree.c) and by meson at build time (packaging/meson.build).

The scripts are run for real: bash through its completion function with
COMP_WORDS/COMP_CWORD as bash sets them, zsh through its autoloaded _nubo
with compadd/_files recording what would be offered.  What they offer is
checked against the CLI itself: every subcommand they offer runs (its
--help), every option they offer for a command is known to it.  The ASan
build of the CLI fails (non-zero exit) on a leak, so each run is also a
leak check of the walk.
"""
import os
import re
import shutil
import socket
import subprocess
import threading

import pytest

from conftest import BUILD

CLI = os.path.join(BUILD, "src", "cli", "nubo")
GEN = os.path.join(BUILD, "packaging")


def run(*args, env=None, check=True):
    e = {k: v for k, v in os.environ.items() if not k.startswith("NUBO_")}
    e.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    e.update(env or {})
    r = subprocess.run([CLI] + list(args), capture_output=True, text=True, env=e,
                       stdin=subprocess.DEVNULL, timeout=120)
    if check:
        assert r.returncode == 0, (args, r.returncode, r.stderr[-2000:])
    return r


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory):
    r = run("completion", "bash")
    assert r.stderr == ""
    path = tmp_path_factory.mktemp("completion") / "nubo.bash"
    path.write_text(r.stdout)
    return path


def bash_complete(script, *lines, cwd=None):
    """Completes each line (words; the last one is the word being completed)
    with the script's _nubo; returns one candidate list per line."""
    prog = ["set -u", ". %s" % script]
    for words in lines:
        arr = " ".join("'%s'" % w for w in words)
        prog += ["COMP_WORDS=(%s); COMP_CWORD=%d; COMPREPLY=()" % (arr, len(words) - 1),
                 "_nubo", "echo \"${COMPREPLY[*]:-}\""]
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(prog)],
                       capture_output=True, text=True, cwd=cwd, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = r.stdout.split("\n")
    return [sorted(out[i].split()) for i in range(len(lines))]


def bash_lists(script, fn, paths):
    """The list the data function fn (_nubo_subs, _nubo_opts,
    _nubo_argopts) gives for each command path."""
    prog = [". %s" % script, "declare -a _nubo_list"]
    for p in paths:
        prog += ["%s '%s'; echo \"${_nubo_list[*]:-}\"" % (fn, p)]
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(prog)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = r.stdout.split("\n")
    return {p: out[i].split() for i, p in enumerate(paths)}


def command_paths(script):
    """Every command path of the tree, the root ("") first, from _nubo_subs."""
    paths, todo = [], [""]
    while todo:
        p = todo.pop(0)
        paths.append(p)
        subs = bash_lists(script, "_nubo_subs", [p])[p]
        todo += [(p + " " + s).strip() for s in subs]
    return paths


def test_bash_script_is_valid_bash(bash_script):
    r = subprocess.run(["bash", "-n", str(bash_script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = bash_script.read_text()
    assert text.startswith("# bash completion for nubo")
    assert "complete -F _nubo" in text


def test_bash_completes_commands_subcommands_options_values(bash_script, tmp_path):
    (tmp_path / "template.yaml").write_text("x")
    got = bash_complete(
        bash_script,
        ["nubo", "fl"],
        ["nubo", "flavor", ""],
        ["nubo", "flavor", "create", "--v"],
        ["nubo", "agent", "vm", "cr"],
        ["nubo", "agent", "vm", "create", "--wait"],
        ["nubo", "-o", ""],
        ["nubo", "--output", "=", "js"],
        # bash breaks --url=http://h:7700 at '=' and ':' into five words
        ["nubo", "--url", "=", "http", ":", "//127.0.0.1", ":", "7700", "vol"],
        ["nubo", "-o", "json", "audit", "--s"],
        ["nubo", "stack", "plan", "-f", "templ"],
        ["nubo", "nosuchgroup", ""],
        ["nubo", "login", ""],
        cwd=tmp_path)
    assert got == [
        ["flavor", "floating-ip"],
        ["create", "delete", "grant", "list", "show"],
        ["--vcpus"],
        ["create"],
        ["--wait-ready"],
        ["json", "table"],
        ["json"],
        ["volume"],
        ["--since", "--socket"],
        ["template.yaml"],
        [],               # not a command: nothing offered
        ["template.yaml"],  # a command's arguments: file names
    ]


def test_hidden_completion_command_is_not_offered(bash_script):
    root = bash_lists(bash_script, "_nubo_subs", [""])[""]
    assert "completion" not in root
    assert "completion" not in run("--help").stdout
    for w in ("login", "instance", "flavor", "agent", "stack", "audit", "volume", "sg"):
        assert w in root, w


def test_every_offered_subcommand_and_option_is_the_clis_own(bash_script, tmp_path):
    """No drift: what the script offers is what the binary accepts."""
    paths = command_paths(bash_script)
    assert len(paths) > 150, len(paths)
    opts = bash_lists(bash_script, "_nubo_opts", paths)
    argopts = bash_lists(bash_script, "_nubo_argopts", paths)
    # the walk reached every command's option table: each has --help
    missing = [p for p in paths if "--help" not in opts[p] or "-h" not in opts[p]]
    assert missing == []
    # every group offers exactly the subcommands it runs: without one, a
    # group's usage error lists its table
    subs = bash_lists(bash_script, "_nubo_subs", paths)
    groups = [p for p in paths[1:] if subs[p]]
    assert len(groups) > 30
    for p in groups:
        r = run(*p.split(), check=False)
        m = re.search(r"missing command \((.*)\)", r.stderr)
        assert r.returncode == 2 and m, (p, r.stderr)
        assert m.group(1).split(", ") == subs[p], p
    # and the leaves run: their --help (a sample: each run takes a while)
    for p in ("flavor create", "agent vm console", "sg rule-add", "recovery finish", "whoami"):
        assert p in paths
        r = run(*(p.split() + ["--help"]))
        assert r.stdout.startswith("usage: nubo"), (p, r.stdout[:200])
    # a word that is no command of a group is refused (the table is the one parsed)
    r = run("flavor", "nosuchcommand", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr
    # the options offered for commands are known to them: an option that takes
    # a value, given none, is "needs a value"; an unknown one "unknown option"
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "NUBO_HOSTD_SOCKET": str(tmp_path / "no-agent.sock")}
    for p in ("flavor create", "stack plan", "agent vm create", "audit"):
        assert "--nosuchoption" not in opts[p]
        r = run(*(p.split() + ["--nosuchoption"]), env=env, check=False)
        assert r.returncode == 2 and "unknown option" in r.stderr, (p, r.stderr)
        for o in argopts[p]:
            r = run(*(p.split() + [o]), env=env, check=False)
            assert r.returncode == 2 and "needs a value" in r.stderr, (p, o, r.stderr)
        for o in set(opts[p]) - set(argopts[p]) - {"-h", "--help", "-V", "--version"}:
            r = run(*(p.split() + [o]), env=env, check=False)
            assert "unknown option" not in r.stderr and "not valid here" not in r.stderr, \
                (p, o, r.stderr)
    assert set(argopts["audit"]) >= {"--since", "--user", "--limit", "--output", "-o"}
    assert "--private" in opts["flavor create"] and "--private" not in argopts["flavor create"]
    # the stack commands share a table but each offers only what it takes
    assert "--yes" in opts["stack apply"] and "--yes" not in opts["stack plan"]
    assert "--follow" in opts["stack events"] and "--file" not in opts["stack events"]
    r = run("stack", "plan", "--yes", check=False)
    assert r.returncode == 2 and "unknown option '--yes'" in r.stderr


def test_the_walk_never_connects(tmp_path):
    """Walking runs every command; none may reach a controller or agent."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                accepted.append(c)
            except socket.timeout:
                pass

    t = threading.Thread(target=accept)
    t.start()
    tok = tmp_path / "token"
    tok.write_text("x" * 32 + "\n")
    try:
        env = {"NUBO_URL": "http://127.0.0.1:%d" % port, "NUBO_TOKEN": "x" * 32,
               "NUBO_HOSTD_URL": "http://127.0.0.1:%d" % port,
               "NUBO_TOKEN_FILE": str(tok), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
        for kind in ("bash", "zsh", "help2man"):
            r = run("completion", kind, env=env)
            assert r.stderr == ""
    finally:
        stop.set()
        t.join()
        srv.close()
    assert accepted == []
    assert not (tmp_path / "xdg").exists()  # nor wrote a config


def test_completion_usage_errors():
    r = run("completion", check=False)
    assert r.returncode == 2 and "missing bash, zsh or help2man" in r.stderr
    r = run("completion", "fish", check=False)
    assert r.returncode == 2 and "unknown shell 'fish'" in r.stderr and r.stdout == ""
    r = run("completion", "bash", "zsh", check=False)
    assert r.returncode == 2 and r.stdout == ""
    assert run("completion", "--help").stdout.startswith("usage: nubo completion")


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is missing: scripts/deps.sh")
def test_zsh_script_is_valid_and_completes(tmp_path):
    r = run("completion", "zsh")
    assert r.stdout.startswith("#compdef nubo\n")
    (tmp_path / "_nubo").write_text(r.stdout)
    r = subprocess.run(["zsh", "-n", str(tmp_path / "_nubo")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # autoloaded from fpath as compinit does; compadd and _files record what
    # would be offered (zsh itself filters them by the prefix typed)
    lines = [["nubo", "fl"], ["nubo", "flavor", ""], ["nubo", "--url", "http://h:1", "agent", "vm", ""],
             ["nubo", "flavor", "create", "--"], ["nubo", "-o", ""], ["nubo", "instance", "show", "x", ""],
             ["nubo", "nosuchgroup", ""]]
    prog = ["fpath=(%s $fpath)" % tmp_path,
            "compadd() { [[ $1 == -- ]] && shift; print -r -- \"compadd $*\"; }",
            "_files() { print -r -- _files; }",
            "autoload -Uz _nubo"]
    for words in lines:
        prog += ["words=(%s); CURRENT=%d; _nubo; print -r -- ." % (
            " ".join("'%s'" % w for w in words), len(words))]
    r = subprocess.run(["zsh", "-f", "-c", "\n".join(prog)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    out = [b.strip() for b in r.stdout.split(".\n")][:len(lines)]
    root = out[0].split()
    assert root[0] == "compadd" and {"flavor", "floating-ip", "instance", "agent"} <= set(root)
    assert "completion" not in root
    assert sorted(out[1].split()[1:]) == ["create", "delete", "grant", "list", "show"]
    assert "create" in out[2].split() and "wait" in out[2].split()
    assert {"--vcpus", "--ram", "--disk", "--private", "--help"} <= set(out[3].split())
    assert out[4] == "compadd table json"
    assert out[5] == "_files"
    assert out[6] == ""


def test_meson_built_completions_match_the_binary():
    """packaging/meson.build generated them from this build's nubo."""
    assert open(os.path.join(GEN, "nubo")).read() == run("completion", "bash").stdout
    assert open(os.path.join(GEN, "_nubo")).read() == run("completion", "zsh").stdout
    assert open(os.path.join(GEN, "nubo.h2m")).read() == run("completion", "help2man").stdout


@pytest.mark.parametrize("page", ["nubo.1", "nubod.8", "nubo-hostd.8"])
def test_man_pages_render_without_warnings(page):
    path = os.path.join(GEN, page)
    r = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", path],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                       env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    text = re.sub(".\b", "", r.stdout)  # no overstrike
    name = page.rsplit(".", 1)[0]
    assert re.search(r"^NAME\n\s+%s - " % re.escape(name), text, re.M), text[:400]
    assert "0.1.0" in text.splitlines()[-1]  # the version, from --version
    if page == "nubo.1":
        for s in ("SYNOPSIS", "DESCRIPTION", "COMMANDS", "FILES", "SEE ALSO"):
            assert re.search("^%s$" % s, text, re.M), s
        # every command's --help, from the walk
        for cmd in ("nubo flavor create", "nubo agent vm create", "nubo audit",
                    "nubo stack plan", "nubo security-group rule-add"):
            assert re.search(r"^   %s$" % cmd, text, re.M), cmd
        assert "--vcpus N" in text and "--since T" in text
    else:
        assert "--state-dir DIR" in text and "FILES" in text and "/etc/nubo/" in text
