package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// qmpConn is a connection to qemu's QMP monitor, capabilities negotiated:
// enough of the protocol for the commands bake sends (no asynchronous use,
// events are read and dropped).
type qmpConn struct {
	conn net.Conn
	dec  *json.Decoder
}

// dialQMP connects to the QMP socket at path and negotiates capabilities.
func dialQMP(ctx context.Context, path string) (*qmpConn, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		return nil, err
	}
	q := &qmpConn{conn: conn, dec: json.NewDecoder(conn)}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	var greeting map[string]json.RawMessage
	if err := q.dec.Decode(&greeting); err != nil {
		conn.Close()
		return nil, fmt.Errorf("qmp greeting: %w", err)
	}
	if _, ok := greeting["QMP"]; !ok {
		conn.Close()
		return nil, errors.New("qmp: no greeting")
	}
	if err := q.execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

// execute runs one command with its arguments (nil for none) and waits for
// its return. The error names the command, never its arguments.
func (q *qmpConn) execute(ctx context.Context, cmd string, args any) error {
	dl := time.Now().Add(10 * time.Second)
	if cd, ok := ctx.Deadline(); ok && cd.Before(dl) {
		dl = cd
	}
	q.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { q.conn.SetDeadline(time.Now()) })
	defer stop()
	req := struct {
		Execute   string `json:"execute"`
		Arguments any    `json:"arguments,omitempty"`
	}{cmd, args}
	b, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("qmp %s: %w", cmd, err)
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return q.fail(ctx, cmd, err)
	}
	for {
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class string `json:"class"`
				Desc  string `json:"desc"`
			} `json:"error"`
		}
		if err := q.dec.Decode(&resp); err != nil {
			return q.fail(ctx, cmd, err)
		}
		switch {
		case resp.Error != nil:
			return fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		case resp.Return != nil:
			return nil
		}
		// An event: read on.
	}
}

func (q *qmpConn) fail(ctx context.Context, cmd string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("qmp %s: %w", cmd, context.Cause(ctx))
	}
	return fmt.Errorf("qmp %s: %w", cmd, err)
}

func (q *qmpConn) Close() error { return q.conn.Close() }

// qmpKeyEvent is one event of QMP's input-send-event.
type qmpKeyEvent struct {
	Type string `json:"type"`
	Data struct {
		Down bool `json:"down"`
		Key  struct {
			Type string `json:"type"`
			Data string `json:"data"`
		} `json:"key"`
	} `json:"data"`
}

func keyEvent(qcode string, down bool) qmpKeyEvent {
	var e qmpKeyEvent
	e.Type = "key"
	e.Data.Down = down
	e.Data.Key.Type = "qcode"
	e.Data.Key.Data = qcode
	return e
}

// sendKeys sends key events through input-send-event.
func (q *qmpConn) sendKeys(ctx context.Context, events ...qmpKeyEvent) error {
	return q.execute(ctx, "input-send-event", map[string]any{"events": events})
}
