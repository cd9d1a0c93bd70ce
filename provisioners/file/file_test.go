package file_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/file"
	"github.com/bake-tool/bake/provisioners/internal/localcomm"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// provision prepares src as a file block and runs it against comm.
func provision(t *testing.T, comm provisioners.Communicator, src string) error {
	t.Helper()
	var cfg file.Config
	configtest.MustPrepare(t, "file", src, &cfg)
	return file.New(&cfg).Provision(t.Context(), testui.New(t), comm, provisioners.BuildInfo{})
}

// tree lists the files under dir as "path mode [content]" lines.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		fi, _ := d.Info()
		line := fmt.Sprintf("%s %o", filepath.ToSlash(rel), fi.Mode().Perm())
		if d.IsDir() {
			line += "/"
		} else {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func write(t *testing.T, p, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

// srcDir makes a local directory "app" with a file, an executable and a
// subdirectory.
func srcDir(t *testing.T) string {
	dir := filepath.Join(t.TempDir(), "app")
	write(t, filepath.Join(dir, "a.txt"), "A", 0o644)
	write(t, filepath.Join(dir, "run.sh"), "#!/bin/sh", 0o755)
	write(t, filepath.Join(dir, "sub", "b.txt"), "B", 0o600)
	return dir
}

func TestUpload(t *testing.T) {
	local := t.TempDir()
	write(t, filepath.Join(local, "tool"), "binary", 0o755)
	write(t, filepath.Join(local, "conf"), "x=1", 0o640)
	dir := srcDir(t)

	tests := []struct {
		name string
		src  func(root string) string
		want []string
	}{
		{"file to a file name", func(root string) string {
			return fmt.Sprintf("source = %q\ndestination = %q", filepath.Join(local, "tool"), root+"/usr/bin/renamed")
		}, []string{"usr 755/", "usr/bin 755/", "usr/bin/renamed 755 binary"}},
		{"file into a directory", func(root string) string {
			return fmt.Sprintf("source = %q\ndestination = %q", filepath.Join(local, "conf"), root+"/etc/app/")
		}, []string{"etc 755/", "etc/app 755/", "etc/app/conf 640 x=1"}},
		{"sources into a directory", func(root string) string {
			return fmt.Sprintf("sources = [%q, %q]\ndestination = %q", filepath.Join(local, "conf"), filepath.Join(local, "tool"), root+"/opt/")
		}, []string{"opt 755/", "opt/conf 640 x=1", "opt/tool 755 binary"}},
		{"content", func(root string) string {
			return fmt.Sprintf("content = \"hello\\nworld\\n\"\ndestination = %q", root+"/etc/motd")
		}, []string{"etc 755/", "etc/motd 644 hello\nworld\n"}},
		{"directory without trailing slash", func(root string) string {
			return fmt.Sprintf("source = %q\ndestination = %q", dir, root+"/srv")
		}, []string{"srv 755/", "srv/app 755/", "srv/app/a.txt 644 A", "srv/app/run.sh 755 #!/bin/sh", "srv/app/sub 755/", "srv/app/sub/b.txt 600 B"}},
		{"directory with trailing slash", func(root string) string {
			return fmt.Sprintf("source = %q\ndestination = %q", dir+"/", root+"/srv/")
		}, []string{"srv 755/", "srv/a.txt 644 A", "srv/run.sh 755 #!/bin/sh", "srv/sub 755/", "srv/sub/b.txt 600 B"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if err := provision(t, localcomm.New(root), tc.src(root)); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, root); !slices.Equal(got, tc.want) {
				t.Errorf("machine has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestUploadGenerated(t *testing.T) {
	root := t.TempDir()
	later := filepath.Join(t.TempDir(), "made-later.txt")
	var cfg file.Config
	// Valid although the file does not exist yet.
	configtest.MustPrepare(t, "file", fmt.Sprintf("source = %q\ndestination = %q\ngenerated = true", later, root+"/x"), &cfg)
	p := file.New(&cfg)
	err := p.Provision(t.Context(), testui.New(t), localcomm.New(root), provisioners.BuildInfo{})
	if err == nil || !strings.Contains(err.Error(), "generated = true") {
		t.Fatalf("error %v", err)
	}
	write(t, later, "made", 0o644)
	if err := p.Provision(t.Context(), testui.New(t), localcomm.New(root), provisioners.BuildInfo{}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "x")); string(b) != "made" {
		t.Errorf("uploaded %q", b)
	}
}

func TestDownload(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "var/log/app.log"), "log line", 0o640)
	write(t, filepath.Join(root, "data/a.txt"), "A", 0o644)
	write(t, filepath.Join(root, "data/sub/b.sh"), "B", 0o755)

	tests := []struct {
		name     string
		src, dst func(local string) string
		want     []string
	}{
		{"file to a file name", func(string) string { return root + "/var/log/app.log" },
			func(l string) string { return l + "/out/copy.log" }, []string{"out 755/", "out/copy.log 640 log line"}},
		{"file into a directory", func(string) string { return root + "/var/log/app.log" },
			func(l string) string { return l + "/out/" }, []string{"out 755/", "out/app.log 640 log line"}},
		{"directory without trailing slash", func(string) string { return root + "/data" },
			func(l string) string { return l + "/out" }, []string{"out 755/", "out/data 755/", "out/data/a.txt 644 A", "out/data/sub 755/", "out/data/sub/b.sh 755 B"}},
		{"directory with trailing slash", func(string) string { return root + "/data/" },
			func(l string) string { return l + "/out" }, []string{"out 755/", "out/a.txt 644 A", "out/sub 755/", "out/sub/b.sh 755 B"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			local := t.TempDir()
			src := fmt.Sprintf("direction = \"download\"\nsource = %q\ndestination = %q", tc.src(local), tc.dst(local))
			if err := provision(t, localcomm.New(root), src); err != nil {
				t.Fatal(err)
			}
			if got := tree(t, local); !slices.Equal(got, tc.want) {
				t.Errorf("downloaded\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}

	t.Run("missing", func(t *testing.T) {
		local := t.TempDir()
		err := provision(t, localcomm.New(root), fmt.Sprintf("direction = \"download\"\nsource = %q\ndestination = %q", root+"/nope", local+"/x"))
		if err == nil || !strings.Contains(err.Error(), "no such file or directory on the machine") {
			t.Fatalf("error %v", err)
		}
		if got := tree(t, local); len(got) != 0 {
			t.Errorf("left %v", got)
		}
	})
}

func TestNoCommunicator(t *testing.T) {
	err := provision(t, nil, "content = \"x\"\ndestination = \"/x\"")
	if err == nil || !strings.Contains(err.Error(), `communicator = "none"`) {
		t.Fatalf("error %v", err)
	}
}
