package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/grpc-mtls/grpc-mtls/lab"
)

const labUsage = "use 'mtls lab list', 'mtls lab run KIND' or 'mtls lab write KIND --dir DIR'"

func runLab(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing subcommand: " + labUsage)
	}
	switch args[0] {
	case "list":
		return runLabList(stdout)
	case "run":
		return runLabRun(args[1:], stdout, stderr)
	case "write":
		return runLabWrite(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown subcommand %q: %s", args[0], labUsage)
}

func runLabList(stdout io.Writer) error {
	for _, cat := range lab.Categories {
		fmt.Fprintf(stdout, "%s:\n", cat)
		for _, k := range lab.Kinds() {
			if k.Category == cat {
				fmt.Fprintf(stdout, "  %-40s %s\n", k.Name, k.Title)
			}
		}
	}
	return nil
}

// labKind parses the KIND argument that follows the flags.
func labKind(fsArgs []string, command string) (*lab.Kind, error) {
	if len(fsArgs) != 1 {
		return nil, fmt.Errorf("name one kind: 'mtls lab %s KIND' (see 'mtls lab list')", command)
	}
	k, ok := lab.Lookup(fsArgs[0])
	if !ok {
		return nil, fmt.Errorf("unknown kind %q: see 'mtls lab list'", fsArgs[0])
	}
	return k, nil
}

func runLabRun(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lab run", stderr, "lab run [--dir DIR] KIND")
	dir := fs.String("dir", "", "directory for the kind's files (default: a temporary directory, removed afterwards)")
	timeout := fs.Duration("timeout", 20*time.Second, "time limit for the call")
	if err := parseFlags(fs, reorder(args)); err != nil {
		return err
	}
	k, err := labKind(fs.Args(), "run")
	if err != nil {
		return err
	}
	target := *dir
	if target == "" {
		if target, err = os.MkdirTemp("", "mtls-lab-"); err != nil {
			return fmt.Errorf("create temporary directory: %w", err)
		}
		defer os.RemoveAll(target)
	} else if err := requireEmptyDir(target, false); err != nil {
		return err
	}
	sc, err := k.Build(target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	obs := lab.Run(ctx, sc)
	var b strings.Builder
	lab.WriteEntry(&b, obs, true)
	fmt.Fprint(stdout, b.String())
	return nil
}

func runLabWrite(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("lab write", stderr, "lab write --dir DIR [--force] KIND")
	dir := fs.String("dir", "", "directory for the kind's files (required)")
	force := fs.Bool("force", false, "write into a directory that already holds files, overwriting them")
	if err := parseFlags(fs, reorder(args)); err != nil {
		return err
	}
	k, err := labKind(fs.Args(), "write")
	if err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("--dir is required: name the directory for the kind's files")
	}
	if err := requireEmptyDir(*dir, *force); err != nil {
		return err
	}
	sc, err := k.Build(*dir)
	if err != nil {
		return err
	}
	// One run on loopback checks the files and finds the client's
	// diagnosis reason for the --expect-failure of the call command.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lab.Run(ctx, sc)
	fmt.Fprintf(stdout, "Wrote the files of %s (%s) into %s.\n", k.Name, k.Title, *dir)
	cmds := sc.Commands(*dir)
	if cmds == nil {
		fmt.Fprintf(stdout, "The mtls CLI cannot play both sides of this kind; run 'mtls lab run %s' to see it.\n", k.Name)
		return nil
	}
	fmt.Fprintln(stdout, "Reproduce it with:")
	for _, c := range cmds {
		fmt.Fprintf(stdout, "  %s\n", c)
	}
	return nil
}

// requireEmptyDir refuses a directory that holds files, unless force is
// set, so that the lab never overwrites someone's keys by accident.
func requireEmptyDir(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--dir %s: %w", dir, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("--dir %s is not empty: choose an empty directory, or give --force to overwrite its files", dir)
	}
	return nil
}

// reorder moves a leading KIND argument behind the flags, so that both
// 'lab run KIND --dir D' and 'lab run --dir D KIND' work with package
// flag, which stops at the first non-flag argument.
func reorder(args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return append(append([]string(nil), args[1:]...), args[0])
	}
	return args
}
