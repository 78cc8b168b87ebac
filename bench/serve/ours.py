"""Sets up shortlink for the serving benchmark with its own commands, as a user would:
init, import the generated CSV, keygen, compile. The result is cached in bench/data/<N>/ours/
(gitignored): see prepare_ours."""
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
    """A database, key pair and compiled snapshot directory for the links in data_dir.
    The database is imported once (10M links take minutes) and kept until --rebuild-ours; the
    snapshot is recompiled whenever the binary is newer than it."""
    ours_dir = os.path.join(data_dir, "ours")
    db = os.path.join(ours_dir, "links.db")
    imported_marker = os.path.join(ours_dir, "imported.ok")
    key_dir = os.path.join(ours_dir, "keys")
    snap_dir = os.path.join(ours_dir, "snapshots")
    timings = {}
    if rebuild or not os.path.exists(imported_marker):
        log("importing %s into ours' database %s" % (os.path.join(data_dir, "links.csv"), db))
        shutil.rmtree(ours_dir, ignore_errors=True)
        os.makedirs(ours_dir)
        _run(binary, ["init"], db=db)
        timings["import_s"], _ = _run(binary, ["import", os.path.join(data_dir, "links.csv")],
                                      db=db)
        log("import took %.1f s" % timings["import_s"])
        with open(imported_marker, "w") as marker:
            marker.write("%.3f\n" % timings["import_s"])
    if not os.path.isdir(key_dir):
        _run(binary, ["keygen", "--out", key_dir, "--name", "bench"])
    secret, public = _keys(key_dir)
    snapshots = _snapshots(snap_dir)
    if rebuild or not snapshots or os.path.getmtime(binary) > os.path.getmtime(snapshots[-1]):
        shutil.rmtree(snap_dir, ignore_errors=True)
        os.makedirs(snap_dir)
        timings["compile_s"], out = _run(binary, ["compile", "--key", secret, "--out", snap_dir],
                                         db=db)
        log("compile took %.1f s: %s" % (timings["compile_s"], out.strip()[:200]))
        snapshots = _snapshots(snap_dir)
        if not snapshots:
            raise RuntimeError("compile wrote no .slsnap into %s" % snap_dir)
    return {"db": db, "snap_dir": snap_dir, "secret_key": secret, "public_key": public,
            "snapshot": snapshots[-1], "snapshot_bytes": os.path.getsize(snapshots[-1]),
            "timings": timings, "binary": binary}


def stage_changed_snapshot(ours, staging_dir, code, new_url, old_url, log):
    """Edits one link, compiles a newer snapshot into staging_dir (not the served directory)
    and puts the link back in the database (so the cached database stays equal to links.csv);
    returns the staged file, ready to be renamed into the served directory."""
    os.makedirs(staging_dir, exist_ok=True)
    _run(ours["binary"], ["edit", code, "--url", new_url], db=ours["db"])
    try:
        seconds, _ = _run(ours["binary"], ["compile", "--key", ours["secret_key"], "--out",
                                           staging_dir], db=ours["db"])
    finally:
        _run(ours["binary"], ["edit", code, "--url", old_url], db=ours["db"])
    log("staged a snapshot with /%s changed (compile %.1f s)" % (code, seconds))
    staged = _snapshots(staging_dir)
    if not staged:
        raise RuntimeError("compile wrote no .slsnap into %s" % staging_dir)
    return staged[-1]
