package main

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/grpc-mtls/grpc-mtls/server"
)

func TestLogCallHealthCheckLevels(t *testing.T) {
	tests := []struct {
		name   string
		call   server.CallInfo
		logged string
	}{
		{"successful health check", server.CallInfo{Method: healthpb.Health_Check_FullMethodName, Code: codes.OK}, ""},
		{"failed health check", server.CallInfo{Method: healthpb.Health_Check_FullMethodName, Code: codes.NotFound, Err: errors.New("unknown service")}, "level=WARN msg=\"call failed\" method=/grpc.health.v1.Health/Check"},
		{"demo call", server.CallInfo{Method: "/mtls.v1.DemoService/Echo", Code: codes.OK}, "level=INFO msg=call method=/mtls.v1.DemoService/Echo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logCall(slog.New(slog.NewTextHandler(&buf, nil)))(tt.call)

			if tt.logged == "" {
				assert.Empty(t, buf.String())
				return
			}
			assert.Contains(t, buf.String(), tt.logged)
		})
	}
}
