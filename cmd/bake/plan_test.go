package main

import (
	"encoding/json"
	"testing"
)

func TestPlanJSON(t *testing.T) {
	tpl := writeTemplate(t, `
source "docker" "app" {
  image  = "bake.local/debian:bookworm"
  commit = true
}
source "null" "a" {
  communicator = "none"
}
source "null" "b" {
  communicator = "none"
}
build {
  name    = "golden"
  sources = ["source.docker.app", "source.null.a", "source.null.b"]
}
`)
	code, out, errOut := bakeRun(t, nil, "plan", "-json", "-except", "null.b", tpl)
	if code != exitOK {
		t.Fatalf("plan: exit %d\n%s", code, errOut)
	}
	var got struct {
		Builds []planBuild
		Shards []planShard
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("plan -json: %v\n%s", err, out)
	}
	if len(got.Builds) != 2 || got.Builds[0].Block != "golden" {
		t.Errorf("builds = %+v, want docker.app and null.a of build golden", got.Builds)
	}
	if len(got.Shards) != 2 || got.Shards[0].Type != "docker" || got.Shards[0].Only != "docker.app" || got.Shards[1].Only != "null.a" {
		t.Errorf("shards = %+v, want docker (docker.app) and null (null.a)", got.Shards)
	}
	// Each shard's "only" selects exactly its builds.
	for _, s := range got.Shards {
		code, out, errOut := bakeRun(t, nil, "plan", "-json", "-only", s.Only, tpl)
		var one struct{ Builds []planBuild }
		if code != exitOK || json.Unmarshal([]byte(out), &one) != nil || len(one.Builds) != len(s.Builds) {
			t.Errorf("plan -only %s: exit %d, %s%s", s.Only, code, out, errOut)
		}
	}
	if code, _, errOut := bakeRun(t, nil, "plan", "-only", "qemu.*", tpl); code != exitUsage {
		t.Errorf("plan -only qemu.*: exit %d, want 2\n%s", code, errOut)
	}
}
