package server

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bake-tool/bake/artifacts"
)

// postgres is one private PostgreSQL server for the package's tests:
// initdb into a temporary directory, listening only on a unix socket,
// stopped by TestMain.
var postgres struct {
	once    sync.Once
	dir     string
	asUser  string // run the server's commands as this user ("" = self)
	err     error
	dbCount atomic.Int32
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDB.dir != "" {
		os.RemoveAll(benchDB.dir)
	}
	if postgres.dir != "" {
		pgCmd(postgres.asUser, "pg_ctl", "-D", filepath.Join(postgres.dir, "data"), "stop", "-m", "immediate", "-w").Run()
		os.RemoveAll(postgres.dir)
	}
	os.Exit(code)
}

// pgBin returns the path of a PostgreSQL server program (Debian keeps
// them under /usr/lib/postgresql/VERSION/bin).
func pgBin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		return name
	}
	return m[len(m)-1]
}

// pgCmd runs a server program, as asUser when set (postgres refuses to
// run as root).
func pgCmd(asUser, name string, args ...string) *exec.Cmd {
	if asUser != "" {
		return exec.Command("runuser", append([]string{"-u", asUser, "--", pgBin(name)}, args...)...)
	}
	return exec.Command(pgBin(name), args...)
}

// testDSN returns the DSN of a new, empty database on the package's
// PostgreSQL server, starting the server the first time.
func testDSN(t testing.TB) string {
	t.Helper()
	postgres.once.Do(func() {
		dir, err := os.MkdirTemp("", "bake-serve-pg-")
		if err != nil {
			postgres.err = err
			return
		}
		postgres.dir = dir
		if os.Geteuid() == 0 {
			postgres.asUser = "postgres"
			u, err := user.Lookup("postgres")
			if err != nil {
				postgres.err = fmt.Errorf("running as root needs the postgres user (apt-get install postgresql): %v", err)
				return
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			os.Chown(dir, uid, gid)
			os.Chmod(dir, 0o755)
		}
		data := filepath.Join(dir, "data")
		if out, err := pgCmd(postgres.asUser, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "--no-sync").CombinedOutput(); err != nil {
			postgres.err = fmt.Errorf("initdb: %v\n%s", err, out)
			return
		}
		opts := fmt.Sprintf("-c listen_addresses='' -k %s -c fsync=off -c full_page_writes=off -c max_connections=200", dir)
		if out, err := pgCmd(postgres.asUser, "pg_ctl", "-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "120", "start").CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			postgres.err = fmt.Errorf("pg_ctl start: %v\n%s\n%s", err, out, log)
		}
	})
	if postgres.err != nil {
		t.Fatal(postgres.err)
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), postgres.dbCount.Add(1))
	admin := fmt.Sprintf("host=%s user=postgres dbname=postgres", postgres.dir)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("postgres://postgres@/%s?host=%s", name, postgres.dir)
}

// databases are the kinds every store and end-to-end test runs against.
var databases = []string{DatabaseSQLite, DatabasePostgres}

// testDatabase returns the database setting of a new, empty database of
// kind: a SQLite file in a temporary directory, or a database on the
// package's PostgreSQL server.
func testDatabase(t *testing.T, kind string) string {
	t.Helper()
	if kind == DatabaseSQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "bake.db")
	}
	return testDSN(t)
}

// testStore opens a store on a new database of kind and closes it with
// the test.
func testStore(t *testing.T, kind string) (*Store, string) {
	t.Helper()
	db := testDatabase(t, kind)
	s, err := OpenStore(context.Background(), db, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, db
}

// writeKey writes a new unencrypted signing key into dir.
func writeKey(t *testing.T, dir string) string {
	t.Helper()
	k, err := artifacts.GenerateKey(artifacts.KeyECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := artifacts.MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "release.key")
	if err := os.WriteFile(p, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testTemplate is a docker build from the local Debian base image that
// sleeps var.sleep seconds in its provisioner, or fails when var.fail.
const testTemplate = `
variable "sleep" {
  type    = number
  default = 0
}
variable "fail" {
  type    = bool
  default = false
}
source "docker" "base" {
  image   = "bake.local/debian:bookworm"
  pull    = false
  discard = true
}
build {
  sources = ["source.docker.base"]
  provisioner "shell" {
    inline = [
      "echo building on $(cat /etc/debian_version)",
      "for i in $(seq 1 ${var.sleep}); do echo tick $i; sleep 1; done",
      "${var.fail ? "echo the provisioner failed on purpose >&2; exit 3" : "echo done"}",
    ]
  }
}
`

// containersOf lists the containers labelled with bake run id.
func containersOf(t *testing.T, bakeRunID string) []string {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=dev.bake.run-id="+bakeRunID).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))
}

// sseEvents reads a Server-Sent Events stream and sends each data line's
// JSON (as Event) on the returned channel until the stream ends.
func readSSE(t *testing.T, resp *http.Response) <-chan string {
	ch := make(chan string, 1024)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				ch <- d
			}
		}
	}()
	return ch
}

// waitFor polls cond every 100ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processAlive reports whether pid exists.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
