package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromium returns Debian's Chromium, or fails t.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("BAKE_TEST_CHROMIUM"), "/usr/bin/chromium", "chromium"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
	return ""
}

// browser returns a new headless Chromium tab with its own profile
// (cookies), closed with the test.
func browser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // tests run as root here
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelB(); cancelA() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return bctx
}

func login(url, token string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#pipelines")),
	)
}

// waitJS polls a JavaScript condition until it holds.
func waitJS(cond string, d time.Duration) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool]("(() => { try { return "+cond+" } catch (e) { return false } })()", chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond))(ctx, tg)
		return chromedp.Void{}, err
	}
}

// settle waits for the navigation a form post starts (POST, 303, GET).
func settle() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(context.Context, *chromedp.Target) error { time.Sleep(time.Second); return nil })
}

// text returns the text of the element sel selects.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(v)
}

// eval evaluates a JavaScript expression (a promise is awaited).
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
		t.Fatalf("%s: %v\npage:\n%s", what, err, page)
	}
}

// TestDashboardBrowser drives the dashboard in Debian's Chromium: login
// with a token; a viewer sees no operator buttons; an operator starts a
// run with the button and follows it live to the end, cancels a running
// build from its page, rolls back and promotes a channel; on SQLite and
// on PostgreSQL.
func TestDashboardBrowser(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) { testDashboardBrowser(t, db) })
	}
}

func testDashboardBrowser(t *testing.T, db string) {
	s := startService(t, db, "http://127.0.0.1:9/unused")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// A first version in channel nightly, so that a second can be rolled
	// back.
	var first Run
	if code := s.call(t, "POST", "/api/v1/pipelines/ok/runs", RoleOperator, nil, &first); code != 201 {
		t.Fatalf("trigger: %d", code)
	}
	v1 := s.waitStatus(t, first.ID, 3*time.Minute, StatusSucceeded, StatusFailed, StatusCancelled)
	if v1.Status != StatusSucceeded {
		t.Fatalf("first run: %+v", v1)
	}

	// A bad token is refused on the page.
	tab := browser(t, ctx)
	do(t, tab, "bad login",
		chromedp.Navigate(s.url+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "bake_wrong"),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)

	// A viewer sees runs and channels, and no operator button.
	do(t, tab, "viewer login", login(s.url, s.tokens[RoleViewer]))
	buttons := eval[int](t, tab, `document.querySelectorAll("button.trigger").length`)
	do(t, tab, "viewer pipeline page", chromedp.Navigate(s.url+"/pipelines/ok"), chromedp.WaitVisible(chromedp.CSS(`tr[data-channel="nightly"]`)))
	nightly := text(t, tab, `tr[data-channel="nightly"] .version`)
	forms := eval[int](t, tab, `document.querySelectorAll("#promote-form, button.rollback, button.trigger").length`)
	if buttons+forms != 0 {
		t.Errorf("a viewer sees operator buttons: %d run, %d promote/rollback", buttons, forms)
	}
	if nightly != v1.Version {
		t.Errorf("viewer sees nightly -> %q, want %q", nightly, v1.Version)
	}
	// A viewer's form POST, even with the page's CSRF token, is refused.
	if st := eval[int](t, tab, `fetch("/pipelines/ok/runs", {method: "POST", body: new URLSearchParams({csrf: document.body.dataset.csrf})}).then(r => r.status)`); st != http.StatusForbidden {
		t.Errorf("viewer form POST: %d, want 403", st)
	}

	// An operator starts a run with the button and follows it live.
	op := browser(t, ctx)
	start := time.Now()
	do(t, op, "operator run",
		login(s.url, s.tokens[RoleOperator]),
		chromedp.Click(chromedp.CSS(`tr[data-pipeline="ok"] button.trigger`)),
		chromedp.WaitVisible(chromedp.CSS("#log")),
		waitJS(`document.getElementById("log").textContent.includes("building on")`, 3*time.Minute),
	)
	during := text(t, op, "#status")
	do(t, op, "run to its end", waitJS(`document.getElementById("status").textContent === "succeeded"`, 3*time.Minute))
	t.Logf("run followed live in %s (status %q when the first log line showed)", time.Since(start).Round(time.Millisecond), during)
	if during != StatusRunning && during != StatusSucceeded {
		t.Errorf("status while the log streamed: %q", during)
	}
	logText := text(t, op, "#log")
	// The whole log, to its last lines: the child's run_finished and the
	// server's own last line.
	for _, want := range []string{"building on", "[run_finished]", "[finished] run succeeded"} {
		if !strings.Contains(logText, want) {
			t.Errorf("the live log has no %q:\n%s", want, logText)
		}
	}
	if row := text(t, op, `#builds tr[data-build="docker.base"]`); !strings.Contains(row, "succeeded") {
		t.Errorf("builds table row: %q", row)
	}
	runs, _ := s.store.Runs(ctx, "ok", 1)
	v2 := runs[0]
	if v2.ID == first.ID || v2.Status != StatusSucceeded || v2.Trigger != "web:op" {
		t.Fatalf("the button's run: %+v", v2)
	}

	// Cancel a running build from its page.
	do(t, op, "cancel from the page",
		chromedp.Navigate(s.url+"/"),
		chromedp.Click(chromedp.CSS(`tr[data-pipeline="slow"] button.trigger`)),
		chromedp.WaitVisible(chromedp.CSS("#cancel")),
		waitJS(`document.getElementById("log").textContent.includes("tick 1")`, 3*time.Minute),
		chromedp.Click(chromedp.CSS("#cancel")),
		settle(),
		chromedp.WaitVisible(chromedp.CSS("#status")),
		waitJS(`document.getElementById("status").textContent === "cancelled"`, 2*time.Minute),
	)
	slow, _ := s.store.Runs(ctx, "slow", 1)
	if len(slow) != 1 || slow[0].Status != StatusCancelled {
		t.Fatalf("slow run: %+v", slow)
	}
	if left := containersOf(t, slow[0].BakeRunID); len(left) > 0 {
		t.Errorf("cancel from the page left containers: %v", left)
	}

	// Roll back nightly (v2 -> v1), then promote v2 to staging.
	do(t, op, "pipeline page", chromedp.Navigate(s.url+"/pipelines/ok"), chromedp.WaitVisible(chromedp.CSS(`tr[data-channel="nightly"]`)))
	nightly = text(t, op, `tr[data-channel="nightly"] .version`)
	do(t, op, "rollback",
		chromedp.Click(chromedp.CSS(`tr[data-channel="nightly"] button.rollback`)),
		settle(),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-channel="nightly"]`)),
		waitJS(`document.querySelector('tr[data-channel="nightly"] .version').textContent === `+fmt.Sprintf("%q", v1.Version), time.Minute),
	)
	do(t, op, "promote",
		chromedp.SendKeys(chromedp.CSS("#promote-channel"), "staging"),
		chromedp.SendKeys(chromedp.CSS("#promote-version"), v2.Version),
		chromedp.Click(chromedp.CSS("#promote")),
		settle(),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-channel="staging"]`)),
	)
	staging := text(t, op, `tr[data-channel="staging"] .version`)
	if nightly != v2.Version || staging != v2.Version {
		t.Errorf("nightly before rollback %q (want %q), staging %q (want %q)", nightly, v2.Version, staging, v2.Version)
	}

	// Without the CSRF token, the operator's cookie alone does nothing.
	if st := eval[int](t, op, `fetch("/pipelines/ok/runs", {method: "POST"}).then(r => r.status)`); st != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", st)
	}
}

// TestRunPageLongLog opens the page of a finished run whose log has
// 50,000 lines in Chromium: the page shows the last ones (the last line
// is there and scrolled into view) and no more than a page of them, and
// the "earlier lines" link loads the page before; on SQLite and on
// PostgreSQL. How long it takes is BenchmarkRunPage's business.
func TestRunPageLongLog(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			srv, store, _, tok := streamServer(t, db)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			id := longLogRun(t, store, longLog)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			tab := browser(t, ctx)
			last := fmt.Sprintf("line %d of %d", longLog, longLog)
			do(t, tab, "run page",
				login(hs.URL, tok),
				chromedp.Navigate(fmt.Sprintf("%s/runs/%d", hs.URL, id)),
				chromedp.WaitVisible(chromedp.CSS("#log")),
				waitJS(`document.getElementById("status").textContent === "succeeded"`, time.Minute),
			)
			logText := text(t, tab, "#log")
			lines := strings.Split(strings.TrimSpace(logText), "\n")
			if !strings.Contains(lines[len(lines)-1], last) {
				t.Errorf("the log's last line is %q, want one with %q", lines[len(lines)-1], last)
			}
			if len(lines) != logTail {
				t.Errorf("the page shows %d lines, want the last %d", len(lines), logTail)
			}
			// The last line is in view: the log box is scrolled to its end.
			if !eval[bool](t, tab, `(() => { const l = document.getElementById("log"); return l.scrollHeight > l.clientHeight && l.scrollTop + l.clientHeight >= l.scrollHeight - 4 })()`) {
				t.Errorf("the log is not scrolled to its last line")
			}
			if row := text(t, tab, `#builds tr[data-build="docker.base"]`); !strings.Contains(row, "succeeded") || !strings.Contains(row, "shell") {
				t.Errorf("builds table row: %q", row)
			}
			want := fmt.Sprintf("%d earlier lines", longLog-logTail)
			if a := text(t, tab, "#earlier"); !strings.HasPrefix(a, want) {
				t.Errorf("earlier link %q, want %q...", a, want)
			}
			do(t, tab, "load earlier lines",
				chromedp.Click(chromedp.CSS("#earlier")),
				waitJS(fmt.Sprintf(`document.getElementById("log").textContent.includes("line %d of %d\n")`, longLog-2*logTail+1, longLog), time.Minute),
			)
			n := eval[int](t, tab, `document.getElementById("log").textContent.trim().split("\n").length`)
			if n != 2*logTail {
				t.Errorf("after loading earlier lines the log has %d lines, want %d", n, 2*logTail)
			}
			if a := text(t, tab, "#earlier"); !strings.HasPrefix(a, fmt.Sprintf("%d earlier lines", longLog-2*logTail)) {
				t.Errorf("earlier link after a page: %q", a)
			}
		})
	}
}

// testedTemplate commits an image from the Debian base and tests it.
const testedTemplate = `
source "docker" "base" {
  image  = "bake.local/debian:bookworm"
  pull   = false
  commit = true
}
build {
  sources = ["source.docker.base"]
  provisioner "shell" {
    inline = ["echo built > /etc/bake-served"]
  }
  test "shell" {
    name   = "smoke"
    inline = ["test \"$(cat /etc/bake-served)\" = built"]
  }
}
`

// TestArtifactsBrowser runs a docker build with a test block and follows
// the run page's link to its artifacts in Chromium: the committed
// image's digest, a package of the Debian base from the SBOM ("bash") and
// the test's result are on the page, as in the API; on SQLite and on
// PostgreSQL.
func TestArtifactsBrowser(t *testing.T) {
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			dir := t.TempDir()
			tpl := filepath.Join(dir, "tested.pkr.hcl")
			if err := os.WriteFile(tpl, []byte(testedTemplate), 0o644); err != nil {
				t.Fatal(err)
			}
			s := startService(t, db, "http://127.0.0.1:9/unused", fmt.Sprintf("pipeline \"tested\" {\n  template = %q\n}\n", tpl))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var run Run
			if code := s.call(t, "POST", "/api/v1/pipelines/tested/runs", RoleOperator, nil, &run); code != 201 {
				t.Fatalf("trigger: %d", code)
			}
			done := s.waitStatus(t, run.ID, 4*time.Minute, StatusSucceeded, StatusFailed, StatusCancelled)
			var arts RunArtifacts
			code := s.call(t, "GET", fmt.Sprintf("/api/v1/runs/%d/artifacts", run.ID), RoleViewer, nil, &arts)
			for _, b := range arts.Builds {
				for _, a := range b.Artifacts {
					id := a.ExternalIdentifier
					t.Cleanup(func() { exec.Command("docker", "rmi", "-f", id).Run() })
				}
			}
			if done.Status != StatusSucceeded {
				t.Fatalf("run: %+v", done)
			}
			if code != 200 || len(arts.Builds) != 1 || len(arts.Builds[0].Artifacts) == 0 || arts.Builds[0].Artifacts[0].Digest == "" {
				t.Fatalf("API artifacts: %d %+v", code, arts)
			}
			digest := arts.Builds[0].Artifacts[0].Digest

			tab := browser(t, ctx)
			do(t, tab, "artifacts page",
				login(s.url, s.tokens[RoleViewer]),
				chromedp.Navigate(fmt.Sprintf("%s/runs/%d", s.url, run.ID)),
				chromedp.Click(chromedp.CSS("#artifacts-link")),
				chromedp.WaitVisible(chromedp.CSS(`section[data-build="docker.base"]`)),
			)
			if got := text(t, tab, `section[data-build="docker.base"] .artifacts .digest`); got != digest {
				t.Errorf("the page shows digest %q, want %q", got, digest)
			}
			if row := text(t, tab, `section[data-build="docker.base"] tr[data-package="bash"]`); !strings.HasPrefix(row, "bash") {
				t.Errorf("SBOM row of bash: %q", row)
			}
			if got := text(t, tab, `section[data-build="docker.base"] tr[data-test="smoke"] .result`); got != "passed" {
				t.Errorf("test smoke shows %q, want passed", got)
			}
			// A run that wrote no manifest says so.
			var slow Run
			s.call(t, "POST", "/api/v1/pipelines/slow/runs", RoleOperator, nil, &slow)
			s.call(t, "POST", fmt.Sprintf("/api/v1/runs/%d/cancel", slow.ID), RoleOperator, nil, nil)
			s.waitStatus(t, slow.ID, 2*time.Minute, StatusCancelled, StatusFailed, StatusSucceeded)
			if _, err := s.store.Artifacts(ctx, slow.ID); err == nil {
				t.Logf("the cancelled run recorded a manifest")
			} else {
				do(t, tab, "page of a run without artifacts",
					chromedp.Navigate(fmt.Sprintf("%s/runs/%d/artifacts", s.url, slow.ID)),
					chromedp.WaitVisible(chromedp.CSS("#no-artifacts")),
				)
			}
		})
	}
}

// TestRunPageLiveLogBounded follows a running run in Chromium while it
// prints more lines than the page keeps: the page shows the end of the
// log, no more than liveLogMax lines, and the "earlier lines" link (the
// page had none when it opened) starts right before the first line left
// and brings back the page before it; on SQLite and on PostgreSQL.
func TestRunPageLiveLogBounded(t *testing.T) {
	defer func(m int) { liveLogMax = m }(liveLogMax)
	liveLogMax = 3000
	const lines = 8000
	for _, db := range databases {
		t.Run(db, func(t *testing.T) {
			srv, store, hub, tok := streamServer(t, db)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			run, err := store.CreateRun(ctx, "p", "test")
			if err != nil {
				t.Fatal(err)
			}
			store.StartRun(ctx, run.ID)
			add := func(msg string) {
				body, _ := json.Marshal(map[string]string{"type": "output", "build": "docker.base", "message": msg})
				ev, err := store.AppendEvent(ctx, run.ID, "output", "docker.base", time.Now(), body)
				if err != nil {
					t.Fatal(err)
				}
				hub.Publish(run.ID, ev)
			}
			add("line 0") // seq 1: line N is seq N+1
			tab := browser(t, ctx)
			do(t, tab, "run page",
				login(hs.URL, tok),
				chromedp.Navigate(fmt.Sprintf("%s/runs/%d", hs.URL, run.ID)),
				chromedp.WaitVisible(chromedp.CSS("#log")),
			)
			for i := 1; i <= lines; i++ {
				add(fmt.Sprintf("line %d", i))
			}
			store.FinishRun(ctx, run.ID, StatusSucceeded, nil, "", "", "")
			fin, _ := store.Run(ctx, run.ID)
			body, _ := json.Marshal(fin)
			hub.Publish(run.ID, Event{RunID: run.ID, Type: "run", Body: body})
			do(t, tab, "the end of the log",
				waitJS(`document.getElementById("status").textContent === "succeeded"`, time.Minute),
				waitJS(fmt.Sprintf(`document.getElementById("log").textContent.endsWith("line %d\n")`, lines), time.Minute),
			)
			shown := strings.Split(strings.TrimSpace(text(t, tab, "#log")), "\n")
			if len(shown) > liveLogMax || len(shown) < liveLogMax/2 {
				t.Fatalf("the page keeps %d lines of %d, want at most %d (and not far fewer)", len(shown), lines+1, liveLogMax)
			}
			var first int
			if _, err := fmt.Sscanf(shown[0][strings.Index(shown[0], "line "):], "line %d", &first); err != nil {
				t.Fatalf("first line %q: %v", shown[0], err)
			}
			if want := fmt.Sprintf("%d earlier lines", first); !strings.HasPrefix(text(t, tab, "#earlier"), want) {
				t.Errorf("earlier link %q, want %q... (the first line shown is line %d)", text(t, tab, "#earlier"), want, first)
			}
			do(t, tab, "load earlier lines",
				chromedp.Click(chromedp.CSS("#earlier")),
				waitJS(fmt.Sprintf(`document.getElementById("log").textContent.includes("line %d\n")`, first-1000), time.Minute),
			)
			again := strings.Split(strings.TrimSpace(text(t, tab, "#log")), "\n")
			if len(again) != len(shown)+1000 || !strings.HasSuffix(again[0], fmt.Sprintf("line %d", first-1000)) {
				t.Errorf("after loading earlier lines: %d lines from %q; want %d from line %d", len(again), again[0], len(shown)+1000, first-1000)
			}
		})
	}
}
