package postprocessors

import (
	"archive/tar"
	"archive/zip"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/bake-tool/bake/artifacts"
	"github.com/bake-tool/bake/templates/interpolate"
	"github.com/bake-tool/bake/ui"
)

// Compress is the compress post-processor: it packs the artifact's files
// into one archive (tar.gz, tar, gz or zip) and returns an artifact made
// of that archive, with its sha256 digest and size recorded in its item.
// The archive is written beside its final name and renamed into place, so
// that no reader sees half an archive.
type Compress struct {
	cfg *CompressConfig
	run RunContext
}

var _ artifacts.PostProcessor = (*Compress)(nil)

// NewCompress returns the compress post-processor for cfg (prepared) in
// run.
func NewCompress(cfg *CompressConfig, run RunContext) *Compress {
	return &Compress{cfg: cfg, run: run}
}

// compressOutputData is what the output template sees.
type compressOutputData struct {
	BuildName   string
	BuilderType string
}

var mediaTypes = map[string]string{
	FormatTarGz: "application/gzip",
	FormatGz:    "application/gzip",
	FormatTar:   "application/x-tar",
	FormatZip:   "application/zip",
}

// PostProcess writes the archive. Directories among the input's files are
// archived with their contents (tar and zip); entries are named by their
// path relative to the input file's directory, permission bits kept.
func (c *Compress) PostProcess(ctx context.Context, ui ui.UI, in *artifacts.Artifact) (*artifacts.Artifact, bool, error) {
	if in == nil || len(in.Files) == 0 {
		return nil, false, errors.New("compress: the artifact has no files to compress")
	}
	outTmpl := c.cfg.Output
	if outTmpl == "" {
		outTmpl = DefaultCompressOutput
	}
	buildName, builderType := c.run.names(in)
	output, err := interpolate.Render(outTmpl, compressOutputData{BuildName: buildName, BuilderType: builderType})
	if err != nil {
		return nil, false, fmt.Errorf("compress output %q: %w", outTmpl, err)
	}
	format := c.cfg.Format
	if format == "" {
		if f, ok := formatOf(output); ok && contains(CompressFormats, f) {
			format = f
		} else {
			format = FormatTarGz
		}
	}
	if format == FormatGz && len(in.Files) > 1 {
		return nil, false, fmt.Errorf("compress: gz holds one file and the artifact has %d; use tar.gz or zip", len(in.Files))
	}
	level := c.cfg.CompressionLevel
	if level < -1 || level > 9 {
		return nil, false, fmt.Errorf("compress: compression_level %d is not from -1 to 9", level)
	}
	if dir := filepath.Dir(output); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, false, fmt.Errorf("compress: %w", err)
		}
	}
	if ui != nil {
		ui.Say(fmt.Sprintf("compressing %d files into %s (%s)", len(in.Files), output, format))
	}
	sum, size, err := writeArchive(ctx, output, format, level, in.Files)
	if err != nil {
		return nil, false, err
	}
	out := &artifacts.Artifact{
		Builder: "compress",
		Build:   in.Build,
		ID:      output,
		Files:   []string{output},
		Items: []artifacts.Item{{
			ExternalIdentifier: filepath.Base(output),
			Digest:             "sha256:" + sum,
			Size:               size,
			Format:             format,
			MediaType:          mediaTypes[format],
			Path:               output,
		}},
	}
	return out, false, nil
}

// writeArchive writes the archive to a temporary file beside output and
// renames it into place, returning its sha256 and size.
func writeArchive(ctx context.Context, output, format string, level int, files []string) (sum string, size int64, err error) {
	dir, base := filepath.Split(output)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return "", 0, fmt.Errorf("compress: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(f, h)}
	switch format {
	case FormatTarGz:
		var gz *gzip.Writer
		if gz, err = gzip.NewWriterLevel(cw, level); err == nil {
			if err = writeTar(ctx, gz, files); err == nil {
				err = gz.Close()
			}
		}
	case FormatTar:
		err = writeTar(ctx, cw, files)
	case FormatGz:
		err = writeGz(ctx, cw, level, files[0])
	case FormatZip:
		err = writeZip(ctx, cw, level, files)
	default:
		err = fmt.Errorf("unsupported format %q", format)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Close()
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, output)
	}
	if err != nil {
		return "", 0, fmt.Errorf("compress %s: %w", output, err)
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// walkInputs calls fn for each input file and, for directories, each
// entry below them, with the entry's archive name.
func walkInputs(ctx context.Context, files []string, fn func(path, name string, fi fs.FileInfo) error) error {
	for _, in := range files {
		root := filepath.Dir(filepath.Clean(in))
		err := filepath.Walk(in, func(p string, fi fs.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			return fn(p, filepath.ToSlash(rel), fi)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func writeTar(ctx context.Context, w io.Writer, files []string) error {
	tw := tar.NewWriter(w)
	err := walkInputs(ctx, files, func(p, name string, fi fs.FileInfo) error {
		link := ""
		if fi.Mode()&fs.ModeSymlink != 0 {
			var err error
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		h, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		h.Name = name
		if fi.IsDir() {
			h.Name += "/"
		}
		// Reproducible ownership: the archive does not carry the build
		// host's user names.
		h.Uname, h.Gname = "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		return copyFile(ctx, tw, p)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

func writeGz(ctx context.Context, w io.Writer, level int, file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file; gz holds one file, use tar.gz or zip", file)
	}
	gz, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	gz.Name = filepath.Base(file)
	gz.ModTime = fi.ModTime()
	if err := copyFile(ctx, gz, file); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(ctx context.Context, w io.Writer, level int, files []string) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, level)
	})
	err := walkInputs(ctx, files, func(p, name string, fi fs.FileInfo) error {
		if !fi.Mode().IsRegular() && !fi.IsDir() {
			return nil
		}
		h, err := zip.FileInfoHeader(fi)
		if err != nil {
			return err
		}
		h.Name = name
		if fi.IsDir() {
			h.Name += "/"
			_, err = zw.CreateHeader(h)
			return err
		}
		h.Method = zip.Deflate
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		return copyFile(ctx, fw, p)
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

func copyFile(ctx context.Context, w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, ctxReader{ctx, f}); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}
