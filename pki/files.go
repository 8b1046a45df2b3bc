package pki

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File modes for what this package writes.
const (
	// ModePrivate is for private keys, keystores and passwords: readable by
	// the owner only, since anyone who reads them can impersonate the owner.
	ModePrivate fs.FileMode = 0o600
	// ModePublic is for certificates and truststores, which hold no secret.
	ModePublic fs.FileMode = 0o644
	// ModeDir is for the directory that holds a PKI.
	ModeDir fs.FileMode = 0o700
)

// MaxFileSize bounds every file this package reads. Real certificate
// chains, keys and PKCS#12 files are a few kilobytes; the limit keeps a
// wrong path (a disk image, a log) from being read into memory.
const MaxFileSize = 1 << 20

// ErrFileExists means a file that would be written already exists and
// overwriting was not allowed.
var ErrFileExists = errors.New("file already exists")

// File is one file to write: its name, content and mode.
type File struct {
	Path string
	Data []byte
	Mode fs.FileMode
}

// WriteFiles writes every file atomically. Unless force is set it first
// checks that none of them exists and, if one does, writes nothing and
// returns an error wrapping ErrFileExists that names it. If a write fails,
// the files already written by this call are removed again.
func WriteFiles(files []File, force bool) error {
	if !force {
		var existing []string
		for _, f := range files {
			if _, err := os.Lstat(f.Path); err == nil {
				existing = append(existing, f.Path)
			}
		}
		if len(existing) > 0 {
			return fmt.Errorf("%w: %s (use --force to overwrite, or choose another directory)", ErrFileExists, strings.Join(existing, ", "))
		}
	}
	var written []string
	for _, f := range files {
		if err := WriteFileAtomic(f.Path, f.Data, f.Mode); err != nil {
			for _, p := range written {
				_ = os.Remove(p)
			}
			return err
		}
		written = append(written, f.Path)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and then renamed over path, so that readers see either
// the old content or the new one and never a partial file.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; set the final mode before any data
	// is written so a key is never readable by others, even briefly.
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: set mode %v: %w", path, mode, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: rename temporary file: %w", path, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return nil // best effort: some file systems cannot open directories
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}

// ReadFile reads a file of at most MaxFileSize bytes. Its errors name the
// path and, for the common mistakes, say what to do.
func ReadFile(path string) ([]byte, error) {
	if path == "" {
		return nil, errors.New("no file name given")
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read %s: file not found: check the path", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("read %s: it is a directory, not a file: name the file inside it", path)
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("read %s: %d bytes is more than the %d-byte limit for certificate, key and keystore files: check the path", path, info.Size(), MaxFileSize)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read %s: more than the %d-byte limit: check the path", path, MaxFileSize)
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("read %s: the file is empty", path)
	}
	return data, nil
}

// ReadPassword reads a password or passphrase file. One trailing newline
// (LF or CRLF), as editors and "echo" add, is removed; other white space is
// kept because it may be part of the password.
func ReadPassword(path string) ([]byte, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	data = []byte(strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"))
	if len(data) == 0 {
		return nil, fmt.Errorf("read password file %s: it contains only a line break: write the password into it", path)
	}
	return data, nil
}
