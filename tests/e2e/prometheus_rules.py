"""docs/prometheus/shortlink-alerts.yml names only metrics that exist: every shortlink_* name in
its expressions is exported by a running server (with a pull origin, a TLS listener and a click
log, so every optional family is on) or by `shortlink probe --textfile`."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from serve_fixture import ServeCase  # noqa: E402
from serve_tls import Pki, put  # noqa: E402

RULES = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "prometheus", "shortlink-alerts.yml")


class PrometheusRules(ServeCase):

    def test_every_metric_an_alert_reads_exists(self):
        with open(RULES, encoding="utf-8") as f:
            text = f.read()
        expressions = re.findall(r"expr: (\|\n(?:\s{10,}.*\n)+|.*)", text)
        self.assertGreaterEqual(len(expressions), 10)
        wanted = set()
        for e in expressions:
            wanted |= set(re.findall(r"\b(shortlink_[a-z0-9_]+)", e))
        self.compile()
        pki = Pki(os.path.join(self.tmp, "pki"))
        certs = os.path.join(self.tmp, "certs")
        os.mkdir(certs)
        cert, key = pki.leaf("go", ["go.example.com"])
        put(certs, "go.example.com.pem", cert + key)
        clicks = os.path.join(self.tmp, "clicks")
        os.mkdir(clicks)
        tls_port = harness.free_port()
        self.serve("--pull", f"http://127.0.0.1:{harness.free_port()}/", "--tls-listen", f"127.0.0.1:{tls_port}",
                   "--certs", certs, "--clicks", clicks)
        self.get("/abc")
        _, body = self.admin("/metrics")
        exported = set(re.findall(r"^(shortlink_[a-z0-9_]+)", body, re.M))
        textfile = os.path.join(self.tmp, "probe.prom")
        self.sl("probe", f"http://127.0.0.1:{self.port}/abc", "--textfile", textfile)
        with open(textfile) as f:
            exported |= set(re.findall(r"^(shortlink_[a-z0-9_]+)", f.read(), re.M))
        self.assertEqual(sorted(wanted - exported), [])


if __name__ == "__main__":
    harness.main()
