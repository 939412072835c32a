"""The web page's JSON API, through an in-process client: every endpoint answers what the Model API
answers, and every kind of bad request gets a 4xx with the message the command line prints."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra (starlette) is not installed")
pytest.importorskip("httpx", reason="httpx, which starlette's test client needs, is not installed")

from starlette.testclient import TestClient  # noqa: E402

from bayesnet.analysis.montecarlo import monte_carlo  # noqa: E402
from bayesnet.analysis.sensitivity import one_way  # noqa: E402
from bayesnet.cli.main import main  # noqa: E402
from bayesnet.errors import BayesnetError  # noqa: E402
from bayesnet.inference.evidence import parse_evidence  # noqa: E402
from bayesnet.web.app import MAX_BODY, STATIC, create_app  # noqa: E402

CASES = Path(__file__).parent / "cases.csv"


def seed_case(name: str) -> dict:
    with CASES.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["case"] == name:
                return parse_evidence(row["evidence"])
    raise LookupError(name)


TUMORAL = "tumoral_calcinosis_fluid_levels"
SOFT_CASE = {"mineral_soft_tissue": "present", "trauma": "present", "extent": "single_site",
             "soft_tissue_mass": [0.3, 0.9]}


@pytest.fixture(scope="module")
def client(model):
    with TestClient(create_app(model), raise_server_exceptions=False) as test_client:
        yield test_client


def post(client, path: str, body) -> tuple[int, dict]:
    response = client.post(path, json=body)
    return response.status_code, response.json()


# ---------------------------------------------------------------------------- answers equal the Model API
@pytest.mark.parametrize("evidence", [seed_case(TUMORAL), SOFT_CASE, {}, {"mineral_soft_tissue": "absent"}],
                         ids=["seed case", "soft evidence", "no evidence", "lung mineral implied"])
def test_posteriors_are_the_models_differential_in_its_order(client, model, evidence):
    status, payload = post(client, "/api/posteriors", {"evidence": evidence})
    assert status == 200
    expected = model.posteriors(evidence)
    assert [r["condition"] for r in payload["differential"]] == list(expected.index)
    assert [r["posterior"] for r in payload["differential"]] == pytest.approx(list(expected["posterior"]), abs=1e-15)
    assert [r["prior"] for r in payload["differential"]] == pytest.approx(list(expected["prior"]), abs=1e-15)
    assert payload["top"] == expected.index[0]
    assert payload["none"] == pytest.approx(expected.attrs["none"], abs=1e-15)
    assert payload["implied"] == expected.attrs["implied"]
    assert payload["none_prior"] == pytest.approx(expected.attrs["none_prior"], abs=1e-15)
    assert parse_evidence(payload["command"].split()[2:]) == evidence


def test_explain_gives_the_models_weights_and_the_numbers_behind_each_item(client, model):
    evidence = seed_case(TUMORAL)
    status, payload = post(client, "/api/explain", {"evidence": evidence, "condition": "tumoral_calcinosis"})
    assert status == 200
    expected = model.explain(evidence, "tumoral_calcinosis")
    assert [i["evidence"] for i in payload["items"]] == list(expected.index)
    assert [i["woe"] for i in payload["items"]] == pytest.approx(list(expected["woe"]), abs=1e-12)
    assert payload["posterior"] == pytest.approx(expected.attrs["posterior"], abs=1e-15)
    provenance = model.provenance()
    for item in payload["items"]:
        records = {r["parameter"] for r in item["numbers"]["records"]}
        node = item["node"]
        if model.node(node).type == "context":
            expected_records = provenance[(provenance["node"] == "tumoral_calcinosis")
                                          & provenance["parent"].fillna("").str.startswith(node + "=")]
        else:
            expected_records = provenance[(provenance["node"] == node) & (provenance["parent"] == "tumoral_calcinosis")]
        assert set(expected_records["parameter"]) <= records
        assert item["numbers"]["no_effect"] == expected_records.empty
        leak_rows = provenance[(provenance["node"] == node) & provenance["role"].isin(["finding_leak", "context_prior"])]
        assert set(leak_rows["parameter"]) <= records
    link = next(i for i in payload["items"] if i["node"] == "fluid_fluid_levels")
    record = next(r for r in link["numbers"]["records"] if r["role"] == "link")
    row = provenance.set_index("parameter").loc[record["parameter"]]
    assert (record["kind"], record["source"], record["quote"], record["value"]) == (row["kind"], row["source"],
                                                                                  row["quote"], row["value"])


def test_a_cell_declared_without_effect_is_marked_so(client, model):
    finding, condition = model.leak_cells().iloc[0][["finding", "condition"]]
    status, payload = post(client, "/api/explain", {"evidence": {finding: "present"}, "condition": condition})
    assert status == 200
    item = payload["items"][0]
    assert item["numbers"]["no_effect"] is True
    assert {r["role"] for r in item["numbers"]["records"]} == {"finding_leak"}


def test_next_findings_are_the_models_ranking_with_each_states_probability(client, model):
    evidence = seed_case(TUMORAL)
    status, payload = post(client, "/api/next", {"evidence": evidence, "top": 5})
    assert status == 200
    expected = model.next_findings(evidence)
    assert [f["finding"] for f in payload["findings"]] == list(expected.index[:5])
    assert [f["reduction"] for f in payload["findings"]] == pytest.approx(
        list(expected["expected_entropy_reduction"][:5]), abs=1e-12)
    for finding in payload["findings"]:
        assert [s["state"] for s in finding["states"]] == list(model.states(finding["finding"]))
        assert sum(s["probability"] for s in finding["states"]) == pytest.approx(1, abs=1e-9)


def test_sensitivity_is_the_one_way_tornado_of_the_top_condition(client, model):
    evidence = seed_case(TUMORAL)
    status, payload = post(client, "/api/sensitivity", {"evidence": evidence, "top": 4})
    assert status == 200
    expected = one_way(model, evidence)
    assert payload["target"] == expected.attrs["target"] == model.posteriors(evidence).index[0]
    assert [p["parameter"] for p in payload["parameters"]] == list(expected.index[:4])
    assert [p["swing"] for p in payload["parameters"]] == pytest.approx(list(expected["swing"][:4]), abs=1e-12)
    assert all(p["record"]["parameter"] == p["parameter"] for p in payload["parameters"])


def test_montecarlo_is_the_libraries_result_for_the_same_seed(client, model):
    evidence = seed_case(TUMORAL)
    status, payload = post(client, "/api/montecarlo", {"evidence": evidence, "draws": 40, "seed": 3, "top": 3})
    assert status == 200
    expected = monte_carlo(model, evidence, draws=40, seed=3)
    assert payload["top"] == expected.top
    assert [c["condition"] for c in payload["conditions"]] == list(expected.summary.index[:3])
    assert [c["q05"] for c in payload["conditions"]] == pytest.approx(list(expected.summary["q05"][:3]), abs=1e-12)
    assert payload["top_changed"] == pytest.approx(expected.top_changed)


def test_nodes_are_the_vocabulary_with_its_groups(client, model):
    response = client.get("/api/nodes")
    assert response.status_code == 200
    payload = response.json()
    frame = model.nodes()
    assert [n["node"] for n in payload["nodes"]] == list(frame.index)
    assert [n["group"] for n in payload["nodes"]] == list(frame["group"])
    assert ["|".join(n["states"]) for n in payload["nodes"]] == list(frame["states"])
    assert payload["knowledge_base"] == model.knowledge_base.as_dict()


def test_provenance_lists_every_number_or_those_of_one_node(client, model):
    provenance = model.provenance()
    everything = client.get("/api/provenance").json()["records"]
    assert [r["parameter"] for r in everything] == list(provenance["parameter"])
    one = client.get("/api/provenance", params={"node": "fluid_fluid_levels", "parent": "tumoral_calcinosis"}).json()
    expected = provenance[(provenance["node"] == "fluid_fluid_levels") & (provenance["parent"] == "tumoral_calcinosis")]
    assert [r["parameter"] for r in one["records"]] == list(expected["parameter"]) != []


def test_the_page_and_its_assets_are_served_from_the_package_with_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for path in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        asset = client.get(path)
        assert asset.status_code == 200, path
    assert {p.name for p in STATIC.iterdir()} >= {"index.html", "app.js", "style.css"}
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?:src|href|url)\s*[=(]\s*[\"']?(?:https?:)?//", text), f"{path.name} loads from elsewhere"


def test_posteriors_answered_while_a_monte_carlo_runs_are_still_the_models(client, model):
    import threading

    evidence = seed_case(TUMORAL)
    slow: dict = {}
    worker = threading.Thread(target=lambda: slow.update(post(client, "/api/montecarlo",
                                                                   {"evidence": evidence, "draws": 1000})[1]))
    cases = [seed_case(TUMORAL), SOFT_CASE, {"fluid_fluid_levels": "present"}]
    expected = [model.posteriors(case)["posterior"].tolist() for case in cases]
    worker.start()
    answered_during = 0
    for i in range(200):
        status, payload = post(client, "/api/posteriors", {"evidence": cases[i % 3]})
        assert status == 200
        assert [r["posterior"] for r in payload["differential"]] == pytest.approx(expected[i % 3], abs=1e-15)
        if not worker.is_alive():
            break
        answered_during += 1
    worker.join()
    assert slow["draws"] == 1000 and slow["top"] == model.posteriors(evidence).index[0]
    assert answered_during > 0, "the Monte Carlo finished before any posterior request: nothing ran concurrently"


# ---------------------------------------------------------------------------- bad requests
def library_message(call) -> str:
    with pytest.raises(BayesnetError) as raised:
        call()
    return str(raised.value)


def test_an_unknown_node_gets_the_command_lines_message(client, capsys):
    status, payload = post(client, "/api/posteriors", {"evidence": {"fluid_levels": "present"}})
    assert main(["query", "fluid_levels=present"]) == 2
    printed = capsys.readouterr().err.strip()
    assert status == 400
    assert printed == f"bayesnet: error: {payload['error']}"
    assert "did you mean 'fluid_fluid_levels'" in payload["error"]


@pytest.mark.parametrize("path", ["/api/posteriors", "/api/explain", "/api/next", "/api/sensitivity", "/api/montecarlo"])
@pytest.mark.parametrize("evidence", [
    {"fluid_fluid_levels": "maybe"},                                   # unknown state
    {"soft_tissue_mass": [0.3, 0.5, 0.2]},                             # likelihood of the wrong length
    {"soft_tissue_mass": [-1, 1]},                                     # negative likelihood
    {"mineral_soft_tissue": "absent", "mineral_lung": "absent"},       # impossible: no presenting finding
    {"soft_tissue_mass": {"present": 1}},                              # a mapping missing a state
], ids=["unknown state", "wrong length", "negative", "impossible", "missing state"])
def test_bad_evidence_gets_400_and_the_librarys_message_on_every_endpoint(client, model, path, evidence):
    body = {"evidence": evidence, **({"condition": "fop"} if path == "/api/explain" else {}),
            **({"draws": 10} if path == "/api/montecarlo" else {})}
    status, payload = post(client, path, body)
    assert status == 400
    assert payload["error"] == library_message(lambda: model.posteriors(evidence))


@pytest.mark.parametrize("path, body, words", [
    ("/api/posteriors", {"evidence": ["trauma=present"]}, "evidence must be a JSON object"),
    ("/api/posteriors", {"evidence": {"trauma": 1}}, "evidence on trauma must be a state name"),
    ("/api/posteriors", {"evidence": {"soft_tissue_mass": ["a", "b"]}}, "must be a list of numbers"),
    ("/api/posteriors", {"evidence": {"soft_tissue_mass": [True, False]}}, "must be a list of numbers"),
    ("/api/posteriors", [1, 2], "the request body must be a JSON object"),
    ("/api/posteriors", {"evidense": {}}, "unknown request field 'evidense'; did you mean 'evidence'?"),
    ("/api/explain", {"evidence": {}}, "condition is required"),
    ("/api/explain", {"evidence": {}, "condition": "tumoral_calcinossis"}, "did you mean 'tumoral_calcinosis'"),
    ("/api/explain", {"evidence": {}, "condition": 3}, "condition must be a condition's name"),
    ("/api/next", {"top": 0}, "top must be a whole number from 1 to 100, got 0"),
    ("/api/next", {"top": "5"}, "top must be a whole number from 1 to 100, got '5'"),
    ("/api/montecarlo", {"draws": 10**9}, "draws must be a whole number from 10 to 20000"),
    ("/api/montecarlo", {"seed": -1}, "seed must be a whole number from 0"),
    ("/api/sensitivity", {"condition": "fopp"}, "unknown condition 'fopp'"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_a_malformed_request_gets_400_naming_the_field_and_what_is_valid(client, path, body, words):
    status, payload = post(client, path, body)
    assert status == 400
    assert words in payload["error"]


@pytest.mark.parametrize("content, words", [
    (b"{not json", "the request body must be JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
], ids=["not JSON", "not UTF-8", "nested deeply"])
def test_a_body_that_is_not_json_gets_400(client, content, words):
    response = client.post("/api/posteriors", content=content[:MAX_BODY], headers={"content-type": "application/json"})
    assert response.status_code == 400
    message = response.json()["error"]
    assert "Traceback" not in message
    if words:
        assert words in message


def test_a_body_over_the_limit_gets_413_whether_or_not_its_length_is_declared(client):
    big = json.dumps({"evidence": {"trauma": "present"}, "padding": "x" * MAX_BODY}).encode()
    response = client.post("/api/posteriors", content=big, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert f"at most {MAX_BODY} bytes" in response.json()["error"]

    def chunks():  # no content-length: the body is streamed and cut off at the limit
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    response = client.post("/api/posteriors", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413


def test_unknown_paths_wrong_methods_and_bad_provenance_queries_get_4xx_with_a_message(client):
    response = client.get("/api/posteriors")
    assert response.status_code == 405 and "POST" in response.json()["error"]
    response = client.get("/api/nothing")
    assert response.status_code == 404 and "/api/nothing" in response.json()["error"]
    response = client.get("/api/provenance", params={"node": "fluid_levels"})
    assert response.status_code == 400 and "did you mean 'fluid_fluid_levels'" in response.json()["error"]
    response = client.get("/api/provenance", params={"nod": "trauma"})
    assert response.status_code == 400 and "valid: node, parent" in response.json()["error"]


# ---------------------------------------------------------------------------- bayesnet serve
def test_serve_without_the_web_extra_says_which_install_command_to_run(capsys, monkeypatch):
    from bayesnet.cli import serve_command

    monkeypatch.setattr(serve_command, "missing_packages", lambda: ["uvicorn"])
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert 'python -m pip install "bayesnet[web]"' in err and "uvicorn" in err and "Traceback" not in err


def test_serve_on_a_port_in_use_names_the_address(capsys):
    from bayesnet.cli.serve_command import listen

    taken = listen("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
        assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
    finally:
        taken.close()


def test_serve_refuses_a_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--port", "70000"])
    assert stopped.value.code == 2
    assert "expected a port number from 0 to 65535, got '70000'" in capsys.readouterr().err


def test_bayesnet_serve_answers_on_loopback_bears_a_short_load_test_and_stops_on_sigint(model, capsys):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from conftest import default_sigint, load_script

    process = subprocess.Popen([sys.executable, "-m", "bayesnet", "serve", "--port", "0"], stderr=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               preexec_fn=default_sigint)
    try:
        lines = []
        for line in process.stderr:
            lines.append(line)
            if "serving" in line:
                break
        found = re.search(r"at (http://127\.0\.0\.1:\d+/)", "".join(lines))
        assert found, "".join(lines)
        url = found.group(1)
        request = urllib.request.Request(url + "api/posteriors", method="POST",
                                         data=json.dumps({"evidence": {"fluid_fluid_levels": "present"}}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)["top"] == model.posteriors({"fluid_fluid_levels": "present"}).index[0]

        # scripts/loadtest.py against it: every request answered, figures that add up
        assert load_script("loadtest").main(["--url", url, "--clients", "5", "--duration", "1", "--json"]) == 0
        figures = json.loads(capsys.readouterr().out)
        assert figures["clients"] == 5 and figures["errors"] == 0 and figures["requests"] > 0
        assert figures["requests_per_s"] == pytest.approx(figures["requests"] / figures["duration_s"], rel=0.01)
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["p99_ms"] <= figures["max_ms"]

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 130
        assert process.stderr.read().strip().splitlines()[-1] == "bayesnet: interrupted (SIGINT); the server has stopped"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()


def test_serve_takes_the_knowledge_base_folder_after_the_command_too(monkeypatch, capsys):
    import importlib

    from conftest import SMALL

    cli_main = importlib.import_module("bayesnet.cli.main")
    loaded = []

    def load(path, literature):
        loaded.append(path)
        raise BayesnetError("stopped after choosing the folder")

    monkeypatch.setattr(cli_main, "load", load)
    assert main(["serve", "--port", "0", "--priors", str(SMALL)]) == 2
    assert main(["--priors", str(SMALL), "serve", "--port", "0"]) == 2
    assert main(["serve", "--port", "0"]) == 2
    assert loaded == [str(SMALL), str(SMALL), None]
    assert "stopped after choosing the folder" in capsys.readouterr().err


def test_a_server_on_loopback_refuses_requests_addressed_to_another_host(model):
    from bayesnet.web.app import loopback_hosts

    with TestClient(create_app(model, allowed_hosts=loopback_hosts(8000)), base_url="http://127.0.0.1:8000") as local:
        assert local.get("/api/nodes").status_code == 200
        assert local.get("/api/nodes", headers={"host": "localhost:8000"}).status_code == 200
        refused = local.get("/api/nodes", headers={"host": "rebound.example:8000"})
        assert refused.status_code == 400
        assert "got host 'rebound.example:8000'" in refused.json()["error"]


def test_another_knowledge_base_is_warmed_and_served_from_its_own_vocabulary(small_model):
    from bayesnet.web.app import warm_case, warm_up

    case = warm_case(small_model)
    assert case and set(case) <= set(small_model.nodes().index)
    warm_up(small_model)
    with TestClient(create_app(small_model)) as small:
        status, payload = post(small, "/api/posteriors", {"evidence": case})
    assert status == 200
    assert [r["condition"] for r in payload["differential"]] == list(small_model.posteriors(case).index)
