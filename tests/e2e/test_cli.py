"""The nubo CLI against a real nubo-hostd: output for people and scripts,
exit codes, and a VM's life driven from the command line."""
import json
import os
import subprocess

from conftest import CLI, READY


def nubo(hostd, *args, timeout=240):
    env = dict(os.environ, NUBO_HOSTD_SOCKET=hostd.sock)
    env.pop("NUBO_HOSTD_URL", None)
    return subprocess.run([CLI] + list(args), capture_output=True, text=True, env=env,
                          timeout=timeout)


def test_help_and_usage_errors(hostd):
    r = nubo(hostd, "--help")
    assert r.returncode == 0 and "agent vm" in r.stdout and "instance" in r.stdout
    r = nubo(hostd, "agent", "--help")
    assert r.returncode == 0 and "vm create" in r.stdout and "--socket" in r.stdout
    r = nubo(hostd, "agent", "vm", "create", "--help")
    assert r.returncode == 0 and "--wait-ready" in r.stdout
    r = nubo(hostd, "agent", "vm", "frobnicate")
    assert r.returncode == 2 and "--help" in r.stderr
    # the agent's commands moved under "agent"; the old words are gone
    r = nubo(hostd, "vm", "list")
    assert r.returncode == 2 and "unknown command 'vm'" in r.stderr
    r = nubo(hostd, "agent", "vm", "create", "x", "--image", "nubo-tiny", "--memory", "lots")
    assert r.returncode == 2, r
    r = nubo(hostd, "agent", "vm", "create", "bad;name", "--image", "nubo-tiny")
    assert r.returncode == 2, r
    assert hostd.api.get("/v1/vms").json["vms"] == []


def test_unreachable_agent(hostd, tmp_path):
    env = dict(os.environ)
    r = subprocess.run([CLI, "--socket", str(tmp_path / "nope.sock"), "agent", "vm", "list"],
                       capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 3
    assert "cannot reach nubo-hostd" in r.stderr


def test_host_info_and_images(hostd):
    r = nubo(hostd, "agent", "info")
    assert r.returncode == 0, r.stderr
    info = hostd.api.get("/v1/host").json
    assert info["accel"] in r.stdout and info["qemu_version"] in r.stdout
    r = nubo(hostd, "-o", "json", "agent", "info")
    assert json.loads(r.stdout)["accel"] == info["accel"]
    r = nubo(hostd, "agent", "image", "list")
    assert r.returncode == 0 and "nubo-tiny" in r.stdout and "NAME" in r.stdout


def test_vm_life_from_the_cli(hostd, tmp_path):
    ud = tmp_path / "ud.sh"
    ud.write_text("#!/bin/sh\necho cli-user-data-ok\n")
    key = tmp_path / "key.pub"
    key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEvQ5rTw2cKPSg0O5IF8yEOOKaNOcz0Y0v user@host\n")
    r = nubo(hostd, "agent", "vm", "create", "cli1", "--image", "nubo-tiny", "--memory", "192M",
             "--network", "user", "--disk", "1G", "--user-data-file", str(ud),
             "--ssh-key-file", str(key), "--wait-ready", "--timeout", "180")
    assert r.returncode == 0, r.stderr
    assert "ready" in r.stdout
    vm = hostd.api.vm("cli1")
    assert vm["state"] == "running" and vm["disk_bytes"] == [2**30]
    assert vm["ssh_keys"] == [key.read_text().strip()]

    r = nubo(hostd, "agent", "vm", "list")
    assert r.returncode == 0
    header, row = r.stdout.splitlines()[0], r.stdout.splitlines()[1]
    assert header.split()[:3] == ["NAME", "ID", "STATE"]
    assert row.split()[0] == "cli1" and "running" in row
    r = nubo(hostd, "-o", "json", "agent", "vm", "list")
    assert [v["name"] for v in json.loads(r.stdout)["vms"]] == ["cli1"]

    r = nubo(hostd, "agent", "vm", "show", "cli1")
    assert r.returncode == 0 and vm["id"] in r.stdout

    r = nubo(hostd, "agent", "vm", "console", "cli1")
    assert r.returncode == 0
    assert "cli-user-data-ok" in r.stdout and READY in r.stdout

    r = nubo(hostd, "agent", "vm", "reboot", "cli1", "--wait-ready", "--timeout", "180")
    assert r.returncode == 0, r.stderr
    r = nubo(hostd, "agent", "vm", "wait", "cli1", "--for", "ready", "--timeout", "60")
    assert r.returncode == 0, r.stderr

    r = nubo(hostd, "agent", "vm", "stop", "cli1")
    assert r.returncode == 0, r.stderr
    assert hostd.api.vm("cli1")["state"] == "stopped"
    # ready only counts the current boot: a stopped VM is not ready
    r = nubo(hostd, "agent", "vm", "wait", "cli1", "--for", "ready", "--timeout", "5")
    assert r.returncode == 1

    r = nubo(hostd, "agent", "vm", "reboot", "cli1")
    assert r.returncode == 1 and "stopped" in r.stderr and "409" in r.stderr

    r = nubo(hostd, "agent", "vm", "delete", "cli1", "ghost")
    assert r.returncode == 1 and "ghost" in r.stderr
    assert hostd.api.get("/v1/vms").json["vms"] == []


def test_api_errors_are_reported(hostd):
    r = nubo(hostd, "agent", "vm", "create", "big", "--image", "nubo-tiny", "--memory", "900G")
    assert r.returncode == 1
    assert "not enough memory" in r.stderr and "507" in r.stderr
    r = nubo(hostd, "agent", "vm", "create", "x", "--image", "missing")
    assert r.returncode == 1 and "no base image named 'missing'" in r.stderr
    r = nubo(hostd, "agent", "vm", "show", "ghost")
    assert r.returncode == 1 and "404" in r.stderr
