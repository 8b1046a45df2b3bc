package pki

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
// chains, keys and PKCS#12 files are a few kilobytes, so the limit only
// keeps a wrong path (a disk image, a log) from being read into memory.
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
// returns an error wrapping ErrFileExists that names it. Every file is
// first written in full to a temporary file next to its target. The
// targets are replaced only when all of them are ready, so a failed write
// (a full disk, a missing directory) leaves the old files as they were.
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

	staged, err := stageFiles(files)
	if err != nil {
		return err
	}
	removeStaged := func(from int) {
		for _, tmp := range staged[from:] {
			_ = os.Remove(tmp)
		}
	}

	dirs := map[string]bool{}
	for i, f := range files {
		if err := os.Rename(staged[i], f.Path); err != nil {
			removeStaged(i)
			if !force {
				// The files renamed so far did not exist before this
				// call, so removing them restores the previous state.
				// NOTE: with force, files already replaced stay replaced.
				for _, done := range files[:i] {
					_ = os.Remove(done.Path)
				}
			}
			return fmt.Errorf("write %s: rename temporary file: %w", f.Path, err)
		}
		dirs[filepath.Dir(f.Path)] = true
	}
	for dir := range dirs {
		syncDir(dir)
	}
	return nil
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, synced and then renamed over path, so that readers see either
// the old content or the new one and never a partial file.
func WriteFileAtomic(path string, data []byte, mode fs.FileMode) error {
	tmp, err := writeTemp(path, data, mode)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: rename temporary file: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// writeTemp writes data with mode to a new, synced temporary file in the
// directory of path and returns the temporary file's name. On error it
// leaves no temporary file behind.
// stageFiles writes each file's data to a synced temporary file next to
// it and returns their names in order. The writes run at once, because
// the file system then commits the syncs together: staging the files of
// pki init one by one took about half of its time. If any write fails,
// stageFiles removes every temporary file and returns the error of the
// first failed file in order.
func stageFiles(files []File) ([]string, error) {
	staged := make([]string, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			staged[i], errs[i] = writeTemp(f.Path, f.Data, f.Mode)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			for _, tmp := range staged {
				if tmp != "" {
					_ = os.Remove(tmp)
				}
			}
			return nil, err
		}
	}
	return staged, nil
}

func writeTemp(path string, data []byte, mode fs.FileMode) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
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
		return "", fmt.Errorf("write %s: set mode %v: %w", path, mode, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("write %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return tmp.Name(), nil
}

// syncDir makes a rename in dir durable. It is best effort because some
// file systems cannot open or sync a directory.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	_ = d.Sync()
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
		return nil, fmt.Errorf("read %s: the file is empty: check the path, or write the file again", path)
	}
	return data, nil
}

// ReadPassword reads a password or passphrase file. One trailing newline
// (LF or CRLF), as editors and "echo" add, is removed. Other white space is
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
