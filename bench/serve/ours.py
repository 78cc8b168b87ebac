"""Sets up shortlink for the serving benchmark with its own commands, as a user would:
init, import the generated CSV, keygen, compile. The result is cached in bench/data/<N>/ours/
(gitignored) and rebuilt on --rebuild-ours or when the binary is newer than the snapshot."""
import os
import shutil
import subprocess
import time


def _run(binary, args, db=None, timeout=1800):
    cmd = [binary] + (["--db", db] if db else []) + args
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("`%s` failed (%d): %s%s" % (" ".join(cmd), proc.returncode,
                                                      proc.stdout[-2000:], proc.stderr[-2000:]))
    return time.monotonic() - started, proc.stdout


def _keys(key_dir):
    """(secret, public) key paths written by `shortlink keygen --name bench`."""
    names = sorted(os.listdir(key_dir))
    public = [n for n in names if "pub" in n]
    secret = [n for n in names if "pub" not in n]
    if len(public) != 1 or len(secret) != 1:
        raise RuntimeError("cannot tell the key files apart in %s: %s" % (key_dir, names))
    return os.path.join(key_dir, secret[0]), os.path.join(key_dir, public[0])


def _snapshots(snap_dir):
    if not os.path.isdir(snap_dir):
        return []
    return sorted(os.path.join(snap_dir, n) for n in os.listdir(snap_dir) if n.endswith(".slsnap"))


def prepare_ours(binary, data_dir, rebuild, log):
    """A database, key pair and compiled snapshot directory for the links in data_dir."""
    ours_dir = os.path.join(data_dir, "ours")
    db = os.path.join(ours_dir, "links.db")
    key_dir = os.path.join(ours_dir, "keys")
    snap_dir = os.path.join(ours_dir, "snapshots")
    snapshots = _snapshots(snap_dir)
    stale = not snapshots or os.path.getmtime(binary) > os.path.getmtime(snapshots[-1])
    timings = {}
    if rebuild or stale:
        log("building ours' database and snapshot in %s" % ours_dir)
        shutil.rmtree(ours_dir, ignore_errors=True)
        os.makedirs(snap_dir)
        _run(binary, ["init"], db=db)
        timings["import_s"], _ = _run(binary, ["import", os.path.join(data_dir, "links.csv")],
                                      db=db)
        _run(binary, ["keygen", "--out", key_dir, "--name", "bench"])
        secret, _ = _keys(key_dir)
        timings["compile_s"], out = _run(binary, ["compile", "--key", secret, "--out", snap_dir],
                                         db=db)
        log("import %.1f s, compile %.1f s: %s" % (timings["import_s"], timings["compile_s"],
                                                   out.strip()[:200]))
        snapshots = _snapshots(snap_dir)
        if not snapshots:
            raise RuntimeError("compile wrote no .slsnap into %s" % snap_dir)
    secret, public = _keys(key_dir)
    return {"db": db, "snap_dir": snap_dir, "secret_key": secret, "public_key": public,
            "snapshot": snapshots[-1], "snapshot_bytes": os.path.getsize(snapshots[-1]),
            "timings": timings, "binary": binary}


def stage_changed_snapshot(ours, staging_dir, code, new_url, log):
    """Edits one link and compiles a newer snapshot into staging_dir (not the served
    directory); returns its path, ready to be renamed into the served directory."""
    os.makedirs(staging_dir, exist_ok=True)
    _run(ours["binary"], ["edit", code, "--url", new_url], db=ours["db"])
    seconds, _ = _run(ours["binary"], ["compile", "--key", ours["secret_key"], "--out",
                                       staging_dir], db=ours["db"])
    log("staged a snapshot with /%s changed (compile %.1f s)" % (code, seconds))
    staged = _snapshots(staging_dir)
    if not staged:
        raise RuntimeError("compile wrote no .slsnap into %s" % staging_dir)
    return staged[-1]
