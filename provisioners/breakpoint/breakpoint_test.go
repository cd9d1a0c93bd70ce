package breakpoint_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bake-tool/bake/provisioners"
	"github.com/bake-tool/bake/provisioners/breakpoint"
	"github.com/bake-tool/bake/provisioners/internal/testui"
)

func TestBreakpoint(t *testing.T) {
	t.Run("waits for Enter", func(t *testing.T) {
		r, w := io.Pipe()
		ui := testui.New(t)
		done := make(chan error, 1)
		go func() {
			done <- breakpoint.New(&breakpoint.Config{Note: "look at /etc"}, r).Provision(t.Context(), ui, nil, provisioners.BuildInfo{})
		}()
		select {
		case err := <-done:
			t.Fatalf("returned before Enter: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
		if _, err := w.Write([]byte("\n")); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ui.Text("say"), "look at /etc") {
			t.Errorf("note not shown: %q", ui.Text("say"))
		}
	})
	t.Run("skipped", func(t *testing.T) {
		for _, p := range []*breakpoint.Provisioner{
			breakpoint.New(&breakpoint.Config{Disable: true}, strings.NewReader("")),
			breakpoint.New(&breakpoint.Config{}, nil),
		} {
			ui := testui.New(t)
			if err := p.Provision(t.Context(), ui, nil, provisioners.BuildInfo{}); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ui.Text("say"), "skipped") {
				t.Errorf("no skip message: %q", ui.Text("say"))
			}
		}
	})
	t.Run("cancel", func(t *testing.T) {
		r, _ := io.Pipe()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err := breakpoint.New(&breakpoint.Config{}, r).Provision(ctx, testui.New(t), nil, provisioners.BuildInfo{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v", err)
		}
	})
}
