package pki

import (
	"fmt"
	"io/fs"
	"os"
	"runtime"
)

// PermissionWarning reports a secret file, such as a private key or a
// password file, that users other than its owner may read. Loading still
// works; the caller decides whether to warn or to stop.
type PermissionWarning struct {
	Path string
	Mode fs.FileMode
}

func (w PermissionWarning) Error() string {
	return fmt.Sprintf("%s holds a secret but is readable by group or others (mode %04o): run 'chmod 600 %s'", w.Path, w.Mode.Perm(), w.Path)
}

// CheckPrivateFileModes returns a warning for each path whose permission
// bits let the group or others read or write it. Paths that cannot be
// examined are skipped, because loading them reports the real error. On
// Windows, where permission bits do not describe access, it returns nil.
func CheckPrivateFileModes(paths ...string) []PermissionWarning {
	if runtime.GOOS == "windows" {
		return nil
	}
	var warnings []PermissionWarning
	for _, p := range paths {
		if p == "" {
			continue
		}
		info, err := os.Stat(p)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if info.Mode().Perm()&0o066 != 0 {
			warnings = append(warnings, PermissionWarning{Path: p, Mode: info.Mode()})
		}
	}
	return warnings
}

// PrivatePaths returns the files of the source that hold secrets: the key,
// its passphrase, the PKCS#12 keystore and its password.
func (s KeystoreSource) PrivatePaths() []string {
	return nonEmpty(s.KeyFile, s.KeyPassphraseFile, s.PKCS12File, s.PasswordFile)
}
