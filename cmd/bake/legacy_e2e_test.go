package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/client"

	"github.com/bake-tool/bake/internal/testutil/testenv"
)

// legacyTemplateJSON is one docker build as a legacy JSON template:
// {{user}} everywhere, {{env}} in a default, a literal ${HOME}, and
// provisioners with only, except, override, pause_before, timeout and
// max_retries.
const legacyTemplateJSON = `{
  "variables": {
    "base": %q,
    "team": "image builders",
    "mode": "{{env ` + "`BAKE_E2E_MODE`" + `}}"
  },
  "builders": [
    {
      "type": "docker",
      "image": "{{user ` + "`base`" + `}}",
      "pull": false,
      "commit": true,
      "changes": [
        "CMD [\"/bin/sh\", \"-c\", \"cat made\"]",
        "ENV APP_MODE={{user ` + "`mode`" + `}}",
        "LABEL org.example.team=\"{{user ` + "`team`" + `}}\"",
        "WORKDIR /srv/app"
      ]
    }
  ],
  "provisioners": [
    {"type": "file", "source": %q, "destination": "/srv"},
    {
      "type": "shell",
      "inline": ["echo made by {{user ` + "`team`" + `}} > /srv/app/made", "echo '${HOME}' > /srv/app/literal"],
      "pause_before": "1s",
      "timeout": "2m",
      "max_retries": "1"
    },
    {"type": "shell", "only": ["docker"], "inline": ["echo only > /srv/app/only"]},
    {"type": "shell", "except": ["docker"], "inline": ["echo except > /srv/app/except"]},
    {
      "type": "shell",
      "inline": ["echo base > /srv/app/over"],
      "override": {"docker": {"inline": ["echo overridden > /srv/app/over"]}}
    }
  ]
}
`

// legacyTemplateHCL is the same build written by hand in HCL2.
const legacyTemplateHCL = `variable "base" {
  type    = string
  default = %q
}

variable "team" {
  type    = string
  default = "image builders"
}

variable "mode" {
  type    = string
  default = env("BAKE_E2E_MODE")
}

source "docker" "app" {
  image  = var.base
  pull   = false
  commit = true
  changes = [
    "CMD [\"/bin/sh\", \"-c\", \"cat made\"]",
    "ENV APP_MODE=${var.mode}",
    "LABEL org.example.team=\"${var.team}\"",
    "WORKDIR /srv/app",
  ]
}

build {
  sources = ["source.docker.app"]

  provisioner "file" {
    source      = %q
    destination = "/srv"
  }
  provisioner "shell" {
    inline       = ["echo made by ${var.team} > /srv/app/made", "echo '$${HOME}' > /srv/app/literal"]
    pause_before = "1s"
    timeout      = "2m"
    max_retries  = 1
  }
  provisioner "shell" {
    only   = ["docker.app"]
    inline = ["echo only > /srv/app/only"]
  }
  provisioner "shell" {
    except = ["docker.app"]
    inline = ["echo except > /srv/app/except"]
  }
  provisioner "shell" {
    inline = ["echo base > /srv/app/over"]
    override = {
      app = { inline = ["echo overridden > /srv/app/over"] }
    }
  }
}
`

// imageFacts is what a user compares between two builds of one image.
type imageFacts struct {
	Cmd, Env []string
	// Labels leaves out bake's own dev.bake.* labels.
	Labels     map[string]string
	WorkingDir string
	// Files is `sha256sum` of every file under /srv/app, sorted.
	Files string
	// Made is the provisioned files made, literal and over, catenated.
	Made string
}

func buildImageFacts(t *testing.T, cli *client.Client, template string) imageFacts {
	t.Helper()
	dir := t.TempDir()
	code, stdout, stderr := bakeRun(t, os.Environ(), "build", "-json", "-manifest", filepath.Join(dir, "m.sigstore.json"), template)
	r := dockerRun{code: code, events: parseEvents(t, stdout), stderr: stderr}
	r.runID = runIDOf(t, r.events)
	afterRun(t, cli, r.runID)
	r.mustSucceed(t)
	var id string
	for _, e := range r.events {
		if e.Artifact != nil && e.Artifact.Builder == "docker" {
			id = e.Artifact.ID
		}
	}
	if id == "" {
		t.Fatalf("%s: no docker artifact", template)
	}
	insp, err := cli.ImageInspect(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	files := runInImage(t, cli, id, []string{"/bin/sh", "-c", "cd /srv/app && find . -type f | LC_ALL=C sort | xargs sha256sum"})
	// bake's own labels (run id, build name) differ from run to run.
	labels := map[string]string{}
	for k, v := range insp.Config.Labels {
		if !strings.HasPrefix(k, "dev.bake.") {
			labels[k] = v
		}
	}
	made := runInImage(t, cli, id, []string{"cat", "/srv/app/made", "/srv/app/literal", "/srv/app/over"})
	return imageFacts{Cmd: insp.Config.Cmd, Env: insp.Config.Env, Labels: labels, WorkingDir: insp.Config.WorkingDir, Files: files, Made: made}
}

// TestLegacyJSONThreeWays: one docker build written as a legacy JSON
// template, as its `bake hcl2_upgrade`, and by hand in HCL2 gives the
// same image config (Cmd, Env, Labels, WorkingDir) and the same files.
func TestLegacyJSONThreeWays(t *testing.T) {
	cli := testenv.Docker(t, testenv.BaseImage())
	t.Setenv("BAKE_E2E_MODE", "production")
	app := makeTree(t, "app", map[string]string{"hello.txt": "hello from the host\n"})

	jsonDir := t.TempDir()
	jsonPath := filepath.Join(jsonDir, "template.json")
	if err := os.WriteFile(jsonPath, []byte(fmt.Sprintf(legacyTemplateJSON, testenv.BaseImage(), app)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := bakeRun(t, os.Environ(), "hcl2_upgrade", jsonPath)
	if code != exitOK {
		t.Fatalf("hcl2_upgrade: exit %d\n%s%s", code, stdout, stderr)
	}
	upgraded := jsonPath + ".pkr.hcl"
	src, err := os.ReadFile(upgraded)
	if err != nil {
		t.Fatalf("hcl2_upgrade wrote no %s: %v", filepath.Base(upgraded), err)
	}
	if code, out, errOut := bakeRun(t, os.Environ(), "fmt", "-check", upgraded); code != exitOK {
		t.Errorf("the upgrade is not formatted as bake fmt formats:\n%s%s\n%s", out, errOut, src)
	}
	hclPath := filepath.Join(writeTemplate(t, fmt.Sprintf(legacyTemplateHCL, testenv.BaseImage(), app)), "template.pkr.hcl")

	want := imageFacts{
		Cmd:        []string{"/bin/sh", "-c", "cat made"},
		WorkingDir: "/srv/app",
	}
	ways := map[string]imageFacts{}
	for _, w := range []struct{ name, path string }{{"json", jsonPath}, {"upgrade", upgraded}, {"hcl2", hclPath}} {
		f := buildImageFacts(t, cli, w.path)
		ways[w.name] = f
		if !slices.Equal(f.Cmd, want.Cmd) || f.WorkingDir != want.WorkingDir || !slices.Contains(f.Env, "APP_MODE=production") ||
			f.Labels["org.example.team"] != "image builders" {
			t.Errorf("%s: image config Cmd %q, Env %q, Labels %v, WorkingDir %q", w.name, f.Cmd, f.Env, f.Labels, f.WorkingDir)
		}
		for _, name := range []string{"./hello.txt", "./made", "./literal", "./only", "./over"} {
			if !strings.Contains(f.Files, "  "+name+"\n") {
				t.Errorf("%s: no %s in the image:\n%s", w.name, name, f.Files)
			}
		}
		if want := "made by image builders\n${HOME}\noverridden\n"; f.Made != want {
			t.Errorf("%s: made, literal and over hold %q, want %q", w.name, f.Made, want)
		}
		if strings.Contains(f.Files, "./except") {
			t.Errorf("%s: the except provisioner ran", w.name)
		}
	}
	for _, other := range []string{"upgrade", "hcl2"} {
		a, b := ways["json"], ways[other]
		if !slices.Equal(a.Cmd, b.Cmd) || !slices.Equal(a.Env, b.Env) || fmt.Sprint(a.Labels) != fmt.Sprint(b.Labels) ||
			a.WorkingDir != b.WorkingDir || a.Files != b.Files {
			t.Errorf("json and %s differ:\n json: %+v\n %s: %+v", other, a, other, b)
		}
	}
}
