package file

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bake-tool/bake/cache"
)

var _ cache.Keyer = (*Provisioner)(nil)

// CacheKey adds, for an upload, the bytes and mode of every file it
// copies (a directory: each file under it by relative path, and its
// symlinks' targets), whether a source ends in "/" (which changes where
// its contents land), content, and destination. A download writes to the
// build host, which a reused step would not do: it is not cacheable.
func (p *Provisioner) CacheKey(h *cache.Hasher) error {
	c := p.cfg
	if c.Direction == Download {
		return errors.New("a download writes to the build host")
	}
	sources := c.Sources
	if c.Source != "" {
		sources = append([]string{c.Source}, sources...)
	}
	h.String("sources", fmt.Sprint(len(sources)))
	for i, s := range sources {
		name := fmt.Sprintf("source[%d]", i)
		h.String(name+".path-ends-in-slash", fmt.Sprint(len(s) > 0 && s[len(s)-1] == '/'))
		h.String(name+".name", filepath.Base(s))
		h.File(name, s)
	}
	h.String("content", c.Content)
	h.String("destination", c.Destination)
	return nil
}
