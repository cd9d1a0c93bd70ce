package amazon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/provisioners"
)

// TestAcceptanceAWS builds a real AMI in a real AWS account, copies it to
// a second region when asked, checks the artifact and deregisters it. It
// costs money and runs only when asked for (see testdata/amazon/README.md):
//
//	BAKE_AWS_ACCEPTANCE=1          required
//	BAKE_AWS_REGION=eu-west-1      build region (default us-east-1)
//	BAKE_AWS_COPY_REGION=eu-north-1 optional ami_regions entry
//	BAKE_AWS_PROFILE=sandbox       optional profile; else the standard chain
//	BAKE_AWS_INSTANCE_TYPE=t3.micro optional
func TestAcceptanceAWS(t *testing.T) {
	if os.Getenv("BAKE_AWS_ACCEPTANCE") != "1" {
		t.Skip("set BAKE_AWS_ACCEPTANCE=1 (and AWS credentials) to build a real AMI")
	}
	region := envOr("BAKE_AWS_REGION", "us-east-1")
	var extra []string
	if p := os.Getenv("BAKE_AWS_PROFILE"); p != "" {
		extra = append(extra, fmt.Sprintf("profile = %q", p))
	}
	if r := os.Getenv("BAKE_AWS_COPY_REGION"); r != "" {
		extra = append(extra, fmt.Sprintf("ami_regions = [%q]", r))
	}
	runID := fmt.Sprintf("acc%d", time.Now().Unix())
	src := fmt.Sprintf(`region = %q
ami_name = "bake-acceptance-%s"
instance_type = %q
source_ami_filter {
  filters = { name = "debian-12-amd64-*", architecture = "x86_64" }
  owners = ["136693071363"]
  most_recent = true
}
ssh_username = "admin"
ssh_timeout = "10m"
tags = { Purpose = "bake acceptance test" }
%s
`, region, runID, envOr("BAKE_AWS_INSTANCE_TYPE", "t3.micro"), strings.Join(extra, "\n"))
	cfg := new(Config)
	configtest.MustPrepare(t, "amazon-ebs", src, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	ui := &testUI{t: t}
	art, err := New(cfg, builder.Options{RunID: runID, BuildID: runID + "-amazon-ebs.acceptance"}).
		Build(ctx, ui, func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
			var out bytes.Buffer
			code, err := comm.Run(ctx, &provisioners.Cmd{Command: "uname -s && id -un", Stdout: &out})
			if err == nil && (code != 0 || out.String() != "Linux\nadmin\n") {
				err = fmt.Errorf("command: status %d, output %q", code, out.String())
			}
			return err
		})
	if err != nil {
		t.Fatalf("build: %v\n%s", err, strings.Join(ui.lines, "\n"))
	}
	t.Logf("artifact %s", art.ID)
	defer func() {
		if err := art.Destroy(context.Background()); err != nil {
			t.Errorf("destroy %s: %v", art.ID, err)
		}
	}()
	if want := 1 + len(cfg.AMIRegions); len(art.Items) != want {
		t.Errorf("artifact has %d items, want %d: %+v", len(art.Items), want, art.Items)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
