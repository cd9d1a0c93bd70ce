package amazon

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/bake-tool/bake/builder"
	"github.com/bake-tool/bake/internal/configtest"
	"github.com/bake-tool/bake/internal/ec2test"
	"github.com/bake-tool/bake/provisioners"
)

// benchUI discards what a build says.
type benchUI struct{}

func (benchUI) Say(string)        {}
func (benchUI) Error(string)      {}
func (benchUI) Stdout() io.Writer { return io.Discard }
func (benchUI) Stderr() io.Writer { return io.Discard }

// BenchmarkSlowEC2 builds an AMI against the EC2 test server with every
// state change taking 1 s (instance start, stop, terminate, AMI, copy,
// snapshot), copied to a second region, real time units and the real
// request budget. "backoff" is bake's default poll schedule; "fixed" is
// Packer's (5 s between instance polls, 15 s between AMI polls, which
// aws_polling { max_attempts } also selects). The ratio fixed/backoff is
// reported as fixed/backoff on the backoff run when both ran
// (go test -run '^$' -bench SlowEC2 -benchtime 1x ./builder/amazon/).
func BenchmarkSlowEC2(b *testing.B) {
	b.Setenv("AWS_POLL_DELAY_SECONDS", "")
	b.Setenv("AWS_MAX_ATTEMPTS", "")
	secs := map[string]float64{}
	for _, sched := range []string{"fixed", "backoff"} {
		b.Run(sched, func(b *testing.B) {
			srv := startSSHD(b)
			second := time.Second
			e := newEnv(b, srv, ec2test.Options{Delays: ec2test.Delays{
				InstancePending: second, InstanceStopping: second, InstanceShuttingDown: second,
				ImagePending: second, CopyPending: second, SnapshotPending: second,
			}})
			polling := ""
			if sched == "fixed" {
				polling = "aws_polling {\n  max_attempts = 240\n}\n"
			}
			src := regexp.MustCompile(`(?s)aws_polling \{.*?\}\n`).ReplaceAllString(e.hcl("bench-"+sched, `ami_regions = ["us-west-2"]
`), polling)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				cfg := new(Config)
				configtest.MustPrepare(b, "amazon-ebs", src, cfg)
				cfg.AMIName = "bench-" + sched + "-" + strconv.Itoa(i)
				t0 := time.Now()
				hook := func(ctx context.Context, comm provisioners.Communicator, _ provisioners.BuildInfo) error {
					_, err := comm.Run(ctx, &provisioners.Cmd{Command: "true"})
					return err
				}
				art, err := newTestBuilder(cfg, builder.Options{RunID: "bench" + strconv.Itoa(i)}, tuning{}).Build(context.Background(), benchUI{}, hook)
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				b.StopTimer()
				if err := art.Destroy(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			secs[sched] = total.Seconds() / float64(b.N)
			b.ReportMetric(secs[sched], "s/build")
			if f, ok := secs["fixed"]; ok && sched == "backoff" {
				b.ReportMetric(f/secs[sched], "fixed/backoff")
			}
		})
	}
}
