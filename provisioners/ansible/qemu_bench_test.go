package ansible

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/builder/qemu"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/testutil/qemufixture"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/ansiblelocal"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// BenchmarkQemu boots the ansible qemu fixture once (under TCG here) and
// runs plays of 1 and 21 trivial tasks against it three ways: ansible
// with use_proxy = false (Ansible on this host, SSH to the forwarded
// port), ansible through bake's proxy, and ansible-local (Ansible inside
// the guest). The 1-task play is mostly Ansible's start-up; the
// difference between the two over 20 is the cost of one task.
//
//	go test -run '^$' -bench Qemu -benchtime 3x ./provisioners/ansible
func BenchmarkQemu(b *testing.B) {
	needAnsible(b)
	g := qemufixture.Get(b, qemufixture.Ansible)
	dir := b.TempDir()
	base := filepath.Join(dir, "base.qcow2")
	if out, err := exec.Command("cp", "--sparse=always", g.Disk, base).CombinedOutput(); err != nil {
		b.Fatalf("copy the fixture disk: %v: %s", err, out)
	}
	cfg := new(qemu.Config)
	configtest.MustPrepare(b, "qemu", fmt.Sprintf(`
iso_url          = %q
iso_checksum     = "none"
disk_image       = true
memory           = 1024
ssh_username     = "root"
ssh_timeout      = "5m"
boot_wait        = "0s"
shutdown_command = "poweroff"
output_directory = %q
qemuargs = [
  ["-kernel", %q],
  ["-initrd", %q],
  ["-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"],
]
`, base, filepath.Join(dir, "out"), g.Kernel, g.Initrd), cfg)
	runID := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e9)
	opts := builder.Options{RunID: runID, BuildID: runID + "-qemu.bench", Name: "qemu.bench", CleanupTimeout: time.Minute}
	ctx := context.Background()
	no := false
	plays := map[int]string{1: writeTasks(b, 1), 21: writeTasks(b, 21)}
	_, err := qemu.New(cfg, opts).Build(ctx, testui.New(nil), func(ctx context.Context, comm provisioners.Communicator, info provisioners.BuildInfo) error {
		for _, mode := range []string{"direct", "proxy", "local"} {
			for _, n := range []int{1, 21} {
				b.Run(fmt.Sprintf("%s/tasks=%d", mode, n), func(b *testing.B) {
					var p provisioners.Provisioner
					switch mode {
					case "direct", "proxy":
						c := &Config{PlaybookFile: plays[n]}
						if mode == "direct" {
							c.UseProxy = &no
						}
						c.setDefaults()
						p = New(c)
					case "local":
						p = ansiblelocal.New(&ansiblelocal.Config{PlaybookFile: plays[n]})
					}
					for i := 0; i < b.N; i++ {
						if err := p.Provision(ctx, testui.New(nil), comm, info); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
