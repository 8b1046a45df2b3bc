package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/grpc-mtls/grpc-mtls/client"
	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
	"github.com/grpc-mtls/grpc-mtls/server"
)

// Failure is one side's error and its diagnosis.
type Failure struct {
	Side      pki.Role
	Err       error
	Diagnosis pki.Diagnosis
}

// Message returns the error as the side shows it: for a gRPC status, the
// same "rpc error: code = ... desc = ..." text grpc-go prints.
func (f *Failure) Message() string {
	if f == nil || f.Err == nil {
		return ""
	}
	if s, ok := status.FromError(f.Err); ok {
		return fmt.Sprintf("rpc error: code = %s desc = %s", s.Code(), s.Message())
	}
	return f.Err.Error()
}

// Observation holds each side's view of one run of a scenario.
type Observation struct {
	Scenario *Scenario
	// Load is set when a side could not load its files; no connection was
	// made then.
	Load *Failure
	// Client is the client's error at its first call, nil if it
	// succeeded.
	Client *Failure
	// Server is the first failure the server reported, nil if it
	// reported none.
	Server *Failure
	// Caller is the identity the server verified, when the call
	// succeeded.
	Caller string
}

// Succeeded reports whether the files loaded and the call went through.
func (o *Observation) Succeeded() bool { return o.Load == nil && o.Client == nil }

// serverWait bounds how long Run waits for the server's report of a
// failure the client has already seen. The server reports within
// milliseconds on loopback; the bound only keeps a missing report from
// hanging the run.
const serverWait = 5 * time.Second

// Run loads the scenario's files, starts its server on 127.0.0.1, makes
// one call from its client and returns what both sides observed. ctx
// bounds the call.
func Run(ctx context.Context, sc *Scenario) *Observation {
	obs := &Observation{Scenario: sc}
	srvMaterial, srvCfg, f := loadServer(sc)
	if f != nil {
		obs.Load = f
		return obs
	}
	cliMaterial, cliCfg, f := loadClient(sc)
	if f != nil {
		obs.Load = f
		return obs
	}

	srv, err := startServer(sc, srvCfg)
	if err != nil {
		obs.Load = &Failure{Side: pki.RoleServer, Err: err}
		return obs
	}
	defer srv.Stop()

	caller, err := call(ctx, sc, srv.addr(sc.dialHost()), cliCfg)
	if err == nil {
		obs.Caller = caller
		return obs
	}
	obs.Client = &Failure{Side: pki.RoleClient, Err: err, Diagnosis: pki.DiagnoseWith(err, pki.RoleClient, cliMaterial)}
	sc.expectFailure = obs.Client.Diagnosis.Reason
	select {
	case serr := <-srv.failures:
		obs.Server = &Failure{Side: pki.RoleServer, Err: serr, Diagnosis: pki.DiagnoseWith(serr, pki.RoleServer, srvMaterial)}
	case <-time.After(serverWait):
	}
	return obs
}

func loadServer(sc *Scenario) (pki.Material, *tls.Config, *Failure) {
	if sc.ServerMode == ServerPlaintext {
		return pki.Material{}, nil, nil
	}
	ks, ts, err := loadEndpoint(sc.Server)
	m := pki.Material{Keystore: ks, Truststore: ts}
	if err != nil {
		return m, nil, &Failure{Side: pki.RoleServer, Err: err, Diagnosis: pki.DiagnoseWith(err, pki.RoleServer, m)}
	}
	cfg, err := pki.ServerTLSConfig(ks, ts, pki.TLSOptions{})
	if err != nil {
		return m, nil, &Failure{Side: pki.RoleServer, Err: err}
	}
	pki.RequirePeerID(cfg, sc.AllowedClientIDs...)
	return m, cfg, nil
}

func loadClient(sc *Scenario) (pki.Material, *tls.Config, *Failure) {
	if sc.ClientMode == ClientPlaintext {
		return pki.Material{}, nil, nil
	}
	ks, ts, err := loadEndpoint(sc.Client)
	m := pki.Material{Keystore: ks, Truststore: ts, ServerName: sc.ServerName}
	if m.ServerName == "" {
		m.ServerName = sc.dialHost()
	}
	if err != nil {
		return m, nil, &Failure{Side: pki.RoleClient, Err: err, Diagnosis: pki.DiagnoseWith(err, pki.RoleClient, m)}
	}
	cfg, err := pki.ClientTLSConfig(ks, ts, sc.ServerName, pki.TLSOptions{AllowTLS12: sc.ClientMaxVersion != 0})
	if err != nil {
		return m, nil, &Failure{Side: pki.RoleClient, Err: err}
	}
	if sc.ClientMaxVersion != 0 {
		cfg.MaxVersion = sc.ClientMaxVersion
	}
	pki.RequirePeerID(cfg, sc.ExpectedServerIDs...)
	return m, cfg, nil
}

// loadEndpoint loads a side's files as the mtls commands do. A side
// without a certificate gets a nil keystore.
func loadEndpoint(e Endpoint) (*pki.Keystore, *pki.Truststore, error) {
	var ks *pki.Keystore
	if src, ok := e.keystoreSource(); ok {
		var err error
		if e.PresentUnparsed {
			ks, err = loadUnparsed(e)
		} else {
			ks, err = pki.LoadKeystore(src)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	ts, err := pki.LoadTruststore(e.truststoreSource())
	if err != nil {
		return ks, nil, err
	}
	return ks, ts, nil
}

// loadUnparsed loads a certificate Go cannot parse (such as one with a
// negative serial) by keeping its DER as it is.
func loadUnparsed(e Endpoint) (*pki.Keystore, error) {
	certPEM, err := pki.ReadFile(e.Cert)
	if err != nil {
		return nil, err
	}
	der, err := firstCertificateDER(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", e.Cert, err)
	}
	keyPEM, err := pki.ReadFile(e.Key)
	if err != nil {
		return nil, err
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM, nil)
	if err != nil {
		return nil, fmt.Errorf("load key %s: %w", e.Key, err)
	}
	return &pki.Keystore{Leaf: &x509.Certificate{Raw: der}, Key: key}, nil
}

// Server is a scenario's server running on 127.0.0.1.
type Server struct {
	lis      net.Listener
	stop     func()
	failures chan error
}

// Addr returns the server's address as host:port with host 127.0.0.1.
func (s *Server) Addr() string { return s.lis.Addr().String() }

func (s *Server) addr(host string) string {
	_, port, _ := net.SplitHostPort(s.lis.Addr().String())
	return net.JoinHostPort(host, port)
}

// Stop stops the server and closes its connections.
func (s *Server) Stop() { s.stop() }

// Serve loads the server side of sc and starts it on 127.0.0.1, for
// tests and tools that bring their own client, such as the doctor's.
func Serve(sc *Scenario) (*Server, error) {
	_, cfg, f := loadServer(sc)
	if f != nil {
		return nil, f.Err
	}
	return startServer(sc, cfg)
}

func startServer(sc *Scenario, cfg *tls.Config) (*Server, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s := &Server{lis: lis, failures: make(chan error, 16)}
	report := func(err error) {
		select {
		case s.failures <- err:
		default:
		}
	}
	switch sc.ServerMode {
	case ServerPlaintext:
		srv := grpc.NewServer(grpc.Creds(&plaintextCredentials{TransportCredentials: insecure.NewCredentials(), report: report}))
		go func() { _ = srv.Serve(lis) }()
		s.stop = srv.Stop
	case ServerTLSWithoutALPN:
		s.stop = serveTLSWithoutALPN(cfg, lis, report)
	default:
		srv := server.New(cfg, server.Options{OnHandshakeFailure: func(f server.HandshakeFailure) { report(f.Err) }})
		go func() { _ = srv.Serve(lis) }()
		s.stop = srv.Stop
	}
	return s, nil
}

// call makes the client's first call and returns the caller identity the
// server verified.
func call(ctx context.Context, sc *Scenario, addr string, cfg *tls.Config) (string, error) {
	switch sc.ClientMode {
	case ClientPlaintext:
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return "", err
		}
		defer conn.Close()
		res, err := mtlsv1.NewDemoServiceClient(conn).WhoAmI(ctx, &mtlsv1.WhoAmIRequest{})
		if err != nil {
			return "", err
		}
		return res.GetClient().GetSubject(), nil
	case ClientHTTP1:
		return "", dialHTTP1(ctx, addr, cfg)
	}
	c, err := client.Dial(addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	res, err := c.WhoAmI(ctx)
	if err != nil {
		return "", err
	}
	uris := res.Response.GetClient().GetUris()
	if len(uris) > 0 {
		return uris[0], nil
	}
	return res.Response.GetClient().GetSubject(), nil
}
