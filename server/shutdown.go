package server

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
)

// Shutdown stops srv gracefully: it closes the listeners, refuses new
// calls at once (clients on open connections receive GOAWAY) and waits for
// running calls to end. When ctx ends first, it closes the remaining
// connections, which fails their calls, and returns an error wrapping
// ctx's error. It returns nil when every call ended in time.
func Shutdown(ctx context.Context, srv *grpc.Server) error {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		srv.Stop()
		<-done
		return fmt.Errorf("graceful shutdown: closed the calls still running: %w", context.Cause(ctx))
	}
}
