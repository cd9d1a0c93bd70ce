package qemu

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/communicator/ssh"
	"github.com/bake-tool/bake/provisioners"
)

// BenchmarkBootToSSH compares the time from qemu's start to a usable SSH
// connection in a bake build with the bare work: the same qemu command
// line started by hand, polled every 100 ms for the SSH banner, then one
// SSH login. Run with
// -benchtime=1x: each iteration boots the guest twice, one at a time.
func BenchmarkBootToSSH(b *testing.B) {
	g := fixture(b)
	var bare, baked time.Duration
	for range b.N {
		// bake
		outDir := filepath.Join(b.TempDir(), "out")
		bd, _ := newBuilder(b, guestSrc(g, g.Disk, outDir, "use_backing_file = true\nskip_compaction = true\n"), builder.Options{})
		var start, ready time.Time
		var argv []string
		opts := bd.opts
		opts.Event = func(e builder.StepEvent) {
			if e.Step == "start qemu" && e.Phase == "start" {
				start = time.Now()
			}
		}
		bd.opts = opts
		_, err := bd.Build(context.Background(), newUI(b), func(_ context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
			ready = time.Now()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		baked += ready.Sub(start)

		// bare: the same kind of command line, by hand.
		dir := b.TempDir()
		work := filepath.Join(dir, "work.qcow2")
		if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", g.Disk, work).CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		seedDir := filepath.Join(dir, "cd")
		os.MkdirAll(seedDir, 0o755)
		key, err := ssh.GenerateKeyPair()
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(filepath.Join(seedDir, "user-data"), []byte(userData("root", string(key.AuthorizedKey))), 0o644)
		os.WriteFile(filepath.Join(seedDir, "meta-data"), []byte(metaData("bench")), 0o644)
		seed := filepath.Join(dir, "seed.iso")
		if err := makeISO(context.Background(), seed, "cidata", seedDir); err != nil {
			b.Fatal(err)
		}
		port, err := portAllocator{}.Take(DefaultHostPortMin, DefaultHostPortMax, nil)
		if err != nil {
			b.Fatal(err)
		}
		port.Unlisten()
		argv = []string{"-machine", "pc", "-accel", "tcg", "-smp", "1", "-m", "768M", "-display", "none",
			"-drive", "file=" + work + ",format=qcow2,if=virtio", "-drive", "file=" + seed + ",media=cdrom,readonly=on",
			"-netdev", "user,id=n,hostfwd=tcp:127.0.0.1:" + strconv.Itoa(port.Port) + "-:22", "-device", "virtio-net,netdev=n",
			"-serial", "file:" + filepath.Join(dir, "console.log"),
			"-kernel", g.Kernel, "-initrd", g.Initrd, "-append", "root=LABEL=bakeroot rw console=ttyS0 quiet"}
		t0 := time.Now()
		cmd := exec.Command(DefaultQemuBinary, argv...)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port.Port))
		for {
			if c, err := probeBanner(context.Background(), addr, 22); err == nil {
				c.Close()
				break
			}
			if time.Since(t0) > 5*time.Minute {
				b.Fatal("bare guest never answered")
			}
			time.Sleep(100 * time.Millisecond)
		}
		comm, err := ssh.Connect(context.Background(), ssh.Config{Host: "127.0.0.1", Port: port.Port, User: "root", PrivateKey: key.PrivateKey, Timeout: time.Minute}, nil)
		if err != nil {
			b.Fatal(err)
		}
		bare += time.Since(t0)
		comm.Close()
		cmd.Process.Kill()
		cmd.Wait()
		port.Release()
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()/n, "bare-s/op")
	b.ReportMetric(baked.Seconds()/n, "bake-s/op")
	b.ReportMetric(100*(baked.Seconds()-bare.Seconds())/bare.Seconds(), "overhead-%")
}

// BenchmarkConvert compares bake's convert step (qemu-img convert, the
// rename into place and the sha256 of the output) with a bare qemu-img
// convert of the same disk. Set BAKE_BENCH_COMPRESS=1 for -c.
func BenchmarkConvert(b *testing.B) {
	g := fixture(b)
	compress := os.Getenv("BAKE_BENCH_COMPRESS") == "1"
	// Read the disk once so that neither side pays for a cold page cache.
	if out, err := exec.Command("cat", g.Disk).Output(); err != nil || len(out) == 0 {
		b.Fatal(err)
	}
	b.ResetTimer()
	var bare, baked time.Duration
	for i := range b.N {
		dir := b.TempDir()
		runBare := func() {
			args := []string{"convert", "-f", "qcow2", "-O", "qcow2"}
			if compress {
				args = append(args, "-c")
			}
			out := filepath.Join(dir, "bare.qcow2")
			t0 := time.Now()
			if msg, err := exec.Command("qemu-img", append(args, g.Disk, out)...).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, msg)
			}
			bare += time.Since(t0)
			os.Remove(out)
		}
		runBake := func() {
			src := "iso_url = \"" + g.Disk + "\"\niso_checksum = \"none\"\ndisk_image = true\nssh_username = \"root\"\noutput_directory = \"" + dir + "\"\n"
			if compress {
				src += "disk_compression = true\n"
			}
			bd, _ := newBuilder(b, src, builder.Options{})
			// convert reads s.work, never writes it: a link to the fixture.
			s := &state{ui: newUI(b), outDir: dir, work: filepath.Join(dir, "work.qcow2"), accel: "tcg"}
			if err := os.Link(g.Disk, s.work); err != nil {
				if msg, err := exec.Command("cp", "--sparse=always", g.Disk, s.work).CombinedOutput(); err != nil {
					b.Fatalf("%v: %s", err, msg)
				}
			}
			t0 := time.Now()
			if err := bd.convert(context.Background(), s); err != nil {
				b.Fatal(err)
			}
			baked += time.Since(t0)
			if !strings.HasPrefix(s.art.Items[0].Digest, "sha256:") {
				b.Fatal("no digest")
			}
			os.Remove(s.art.ID)
		}
		// Alternate the order, so that neither side always runs second
		// (after the other's writes were flushed, say).
		if i%2 == 0 {
			runBare()
			runBake()
		} else {
			runBake()
			runBare()
		}
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()/n, "bare-s/op")
	b.ReportMetric(baked.Seconds()/n, "bake-s/op")
	b.ReportMetric(100*(baked.Seconds()-bare.Seconds())/bare.Seconds(), "overhead-%")
}
