"""The gateway scenarios of build/sluice-bench (gw-accept, gw-e2e,
gw-replay) against the real daemon serving examples/calculator/sluice.yaml: what the
benchmark reports must be what happened, checked against the daemon's own
results table — every 202 it counts is a request record, every round trip
it counts as completed is a SUCCEEDED record, a final status other than
SUCCEEDED is counted as an error, and so are answers other than 202. Short
runs at low rates: this checks the counting, not the speed."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fn_truth import BUILD, REPO, WORKERS_SO, FunctionsTestCase, http_get, table_scan, timeout  # noqa: E402
from sluice_harness import VALGRIND  # noqa: E402

BENCH = os.environ.get("SLUICE_BENCH_BIN", os.path.join(BUILD, "sluice-bench"))


def seed_config(multiplication_symbol="multiplication"):
    """examples/calculator/sluice.yaml with the plugin's absolute path (the
    config is written elsewhere) and the demo key's plan unthrottled, as
    bench/gateway.sh runs it; multiplication_symbol swaps that function's
    handler."""
    with open(os.path.join(REPO, "examples", "calculator", "sluice.yaml")) as f:
        text = f.read()
    text = text.replace("../../build/examples/workers.so", WORKERS_SO)
    for small, big in (("rate: 100\n", "rate: 1000000\n"), ("burst: 200\n", "burst: 1000000\n"),
                       ("quota: 100000\n", "quota: 10000000\n")):
        text = text.replace("      " + small, "      " + big, 1)
    return text.replace("workers.so:multiplication", "workers.so:" + multiplication_symbol)


def fields(line):
    """The key=value pairs of one sluice-bench line."""
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


def codes(f):
    return {int(k): int(v) for k, v in (c.split(":") for c in f.get("codes", "").split(",") if c)}


@unittest.skipIf(VALGRIND, "under valgrind: the benchmark's rates measure timing, not memory")
class BenchGatewayTest(FunctionsTestCase):
    def setUp(self):
        super().setUp()
        if not os.path.exists(BENCH):
            self.fail("no %s (make build/sluice-bench)" % BENCH)

    def bench(self, s, scenario, *opts, path=None):
        """Runs sluice-bench against the daemon; (first line's fields, whole output)."""
        argv = [BENCH, "-k", "calculator-demo-key"] + list(opts) + ["127.0.0.1:%d" % s.port, scenario] + ([path] if path else [])
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=timeout(60)).stdout
        return fields(out.splitlines()[0]), out

    def statuses(self, s):
        counts = {}
        for item in table_scan(s.endpoint, "results"):
            counts[item["status"]] = counts.get(item["status"], 0) + 1
        return counts

    def test_accept_counts_each_202_as_a_request_record(self):
        s = self.daemon(seed_config())
        f, _ = self.bench(s, "gw-accept", "-c", "4", "-d", "0.5")
        accepted = int(f["accepted"])
        self.assertGreater(accepted, 0)
        self.assertEqual(int(f["errors"]), 0)
        self.assertEqual(codes(f), {202: accepted})
        # each accept writes its record before answering
        status, doc = http_get(s.endpoint, "/_sluice/tables/results?limit=1")
        self.assertEqual((status, doc["ItemCount"]), (200, accepted))

    def test_accept_counts_other_answers_as_errors_and_goes_on(self):
        s = self.daemon(seed_config())
        f, _ = self.bench(s, "gw-accept", "-c", "2", "-d", "0.3", path="/no-such-route")
        self.assertEqual(int(f["accepted"]), 0)
        self.assertGreater(int(f["requests"]), 3)  # went on past the first error
        self.assertEqual(int(f["errors"]), int(f["requests"]))
        self.assertEqual(codes(f), {404: int(f["requests"])})

    def test_e2e_open_loop_round_trips_end_in_succeeded_records(self):
        s = self.daemon(seed_config())
        f, _ = self.bench(s, "gw-e2e", "-c", "4", "-r", "200", "-d", "0.5")
        launched = int(f["launched"])
        self.assertLessEqual(launched, 100)  # due every 5 ms for 0.5 s
        self.assertGreater(launched, 50)
        self.assertEqual((int(f["completed"]), int(f["errors"])), (launched, 0))
        self.assertEqual(f["target"], "200/s")
        self.assertEqual(codes(f)[200], launched)
        self.assertEqual(self.statuses(s), {"SUCCEEDED": launched})
        for k in ("p50", "p99", "post_p50", "post_p99"):
            self.assertRegex(f[k], r"^\d+\.\d+ms$")
        # a round trip contains its POST
        self.assertGreaterEqual(float(f["p50"][:-2]), float(f["post_p50"][:-2]))

    def test_e2e_counts_a_final_status_other_than_succeeded_as_an_error(self):
        # the multiplication queue's worker is the division handler, which
        # refuses a multiplication request: after 3 attempts (2 s apart) its
        # message reaches the dead-letter queue and the request ends DEAD_LETTERED
        s = self.daemon(seed_config("division"))
        f, _ = self.bench(s, "gw-e2e", "-c", "4", "-r", "0", "-d", "0.3")
        launched, completed = int(f["launched"]), int(f["completed"])
        m = re.fullmatch(r"final:(\d+)", f.get("errors_by", ""))
        self.assertIsNotNone(m, f)
        failed = int(m.group(1))
        self.assertEqual(f["target"], "closed-loop")
        self.assertGreater(completed, 0)
        self.assertGreater(failed, 0)
        self.assertEqual((completed + failed, int(f["errors"])), (launched, failed))
        self.assertEqual(self.statuses(s), {"SUCCEEDED": completed, "DEAD_LETTERED": failed})

    def test_replay_at_full_speed_runs_the_seeds_1800_scenarios(self):
        s = self.daemon(seed_config())
        f, out = self.bench(s, "gw-replay", "-c", "8", "-d", "30")
        self.assertEqual(f["speed"], "full")
        self.assertEqual((f["scenarios"], f["launched"], f["completed"], f["errors"]), ("1800",) * 3 + ("0",))
        self.assertEqual(int(f["requests"]), 2 * 1800 + codes(f)[202] - 1800)  # a POST and its reads each
        self.assertIn("  Scenarios launched:  1800\n  Scenarios completed: 1800\n", out)
        self.assertIn("    200: 1800\n", out)
        self.assertEqual(self.statuses(s), {"SUCCEEDED": 1800})

    def test_replay_sped_up_follows_the_seeds_arrival_rate(self):
        s = self.daemon(seed_config())
        # 10 arrivals/s sped up 40 times: one every 2.5 ms, for 0.5 s
        f, out = self.bench(s, "gw-replay", "-c", "4", "-d", "0.5", "-x", "40")
        launched = int(f["launched"])
        self.assertEqual(f["speed"], "x40")
        self.assertLessEqual(launched, 200)
        self.assertGreater(launched, 100)
        self.assertEqual((int(f["completed"]), int(f["errors"])), (launched, 0))
        self.assertIn("  Scenarios launched:  %d\n" % launched, out)
        self.assertEqual(self.statuses(s), {"SUCCEEDED": launched})
