package main

import (
	"errors"
	"io"
)

func runDoctor(args []string, stdout, stderr io.Writer) error {
	return errors.New("not implemented")
}
