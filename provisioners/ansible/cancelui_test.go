package ansible

import (
	"bytes"
	"io"
	"strings"
	"sync"

	"github.com/bake-tool/bake/provisioners/internal/testui"
)

// cancelUI is a testui.UI that cancels when a stdout line contains on,
// as a user pressing Ctrl-C on seeing it.
type cancelUI struct {
	*testui.UI
	on     string
	cancel func()
	w      *lineCancel
}

func (u *cancelUI) Stdout() io.Writer { return u.w }

type lineCancel struct {
	ui   *cancelUI
	mu   sync.Mutex
	buf  []byte
	once sync.Once
}

func (l *lineCancel) Write(p []byte) (int, error) {
	l.ui.UI.Stdout().Write(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		if strings.Contains(string(l.buf[:i]), l.ui.on) {
			l.once.Do(l.ui.cancel)
		}
		l.buf = l.buf[i+1:]
	}
	return len(p), nil
}
