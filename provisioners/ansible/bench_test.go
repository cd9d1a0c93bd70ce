package ansible

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bake-tool/bake/communicator/sshproxy"
	"github.com/bake-tool/bake/internal/testutil/testenv"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// writeTasks writes a playbook of n trivial tasks and returns its path.
func writeTasks(b *testing.B, n int) string {
	b.Helper()
	var s strings.Builder
	s.WriteString("- hosts: all\n  gather_facts: false\n  tasks:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "    - name: task %d\n      ansible.builtin.command: \"true\"\n", i)
	}
	p := filepath.Join(b.TempDir(), fmt.Sprintf("tasks%d.yml", n))
	if err := os.WriteFile(p, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkStartup is Ansible's own start-up: an empty play with a local
// connection, no bake in the way.
func BenchmarkStartup(b *testing.B) {
	pb := writeTasks(b, 0)
	for i := 0; i < b.N; i++ {
		if out, err := exec.Command("ansible-playbook", "-c", "local", "-i", "localhost,", pb).CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
	}
}

// BenchmarkProxy runs plays of 1 and 21 trivial tasks through the proxy
// into one docker container, with and without Ansible's pipelining; the
// difference over 20 is the cost of a task through bake (Ansible's own
// work per task included), to compare with BenchmarkLocalTasks, and
// requests/op is how many exec and sftp requests the proxy served.
func BenchmarkProxy(b *testing.B) {
	needAnsible(b)
	cli := testenv.Docker(b, testenv.AnsibleImage())
	for _, bc := range []struct {
		n    int
		pipe bool
	}{{1, false}, {21, false}, {1, true}, {21, true}} {
		pb := writeTasks(b, bc.n)
		b.Run(fmt.Sprintf("tasks=%d/pipelining=%v", bc.n, bc.pipe), func(b *testing.B) {
			cfg := &Config{PlaybookFile: pb}
			if bc.pipe {
				cfg.AnsibleEnvVars = []string{"ANSIBLE_PIPELINING=True"}
			}
			cfg.setDefaults()
			ctx := context.Background()
			var srv *sshproxy.Server
			_, err := build(ctx, b, cli, "test-bench", testenv.AnsibleImage(), false, func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
				requests := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					p := New(cfg)
					p.started = func(s *sshproxy.Server) { srv = s }
					if err := p.Provision(ctx, testui.New(nil), comm, info); err != nil {
						return err
					}
					requests += srv.Requests()
				}
				b.StopTimer()
				b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkLocalTasks is the same plays with a local connection on this
// host: Ansible's own cost per task without SSH or bake.
func BenchmarkLocalTasks(b *testing.B) {
	for _, n := range []int{1, 21} {
		pb := writeTasks(b, n)
		b.Run(fmt.Sprintf("tasks=%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if out, err := exec.Command("ansible-playbook", "-c", "local", "-i", "localhost,", pb).CombinedOutput(); err != nil {
					b.Fatalf("%v\n%s", err, out)
				}
			}
		})
	}
}
