package server

import (
	"context"
	"crypto/x509"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/grpc-mtls/grpc-mtls/pki"
	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

// MaxEchoLength bounds the message of Echo and EchoStream requests.
const MaxEchoLength = 64 << 10

// Service implements mtlsv1.DemoServiceServer. It reads the caller from
// the request context, so it must run behind the interceptors New
// installs, or behind any that call ContextWithPeer.
type Service struct {
	mtlsv1.UnimplementedDemoServiceServer
	// ServerCertificate returns the server's own certificate; may be nil.
	ServerCertificate func() *x509.Certificate
}

// WhoAmI returns the verified client certificate, the connection and the
// authorization decision that admitted the call.
func (s *Service) WhoAmI(ctx context.Context, _ *mtlsv1.WhoAmIRequest) (*mtlsv1.WhoAmIResponse, error) {
	p, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	resp := &mtlsv1.WhoAmIResponse{
		Anonymous: p.Anonymous(),
		Connection: &mtlsv1.Connection{
			TlsVersion:  p.Connection.Version,
			CipherSuite: p.Connection.CipherSuite,
			Resumed:     p.Connection.Resumed,
			Alpn:        p.Connection.ALPN,
			PeerAddress: addrString(p),
		},
	}
	if !p.Anonymous() {
		resp.Client = CertificateMessage(p.Identity)
	}
	if d, ok := DecisionFromContext(ctx); ok {
		resp.Authorization = &mtlsv1.Authorization{Principal: d.Principal, Rule: d.Rule}
	}
	if s.ServerCertificate != nil {
		if cert := s.ServerCertificate(); cert != nil {
			resp.Server = CertificateMessage(pki.IdentityOf(cert))
		}
	}
	return resp, nil
}

// Echo returns the message with the caller's name.
func (s *Service) Echo(ctx context.Context, req *mtlsv1.EchoRequest) (*mtlsv1.EchoResponse, error) {
	p, err := callerOf(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.GetMessage()) > MaxEchoLength {
		return nil, status.Errorf(codes.InvalidArgument, "message is %d bytes, more than the %d-byte limit", len(req.GetMessage()), MaxEchoLength)
	}
	return &mtlsv1.EchoResponse{Message: req.GetMessage(), Caller: p.Name()}, nil
}

// EchoStream replies to every message on the stream until the client closes
// its side.
func (s *Service) EchoStream(stream mtlsv1.DemoService_EchoStreamServer) error {
	p, err := callerOf(stream.Context())
	if err != nil {
		return err
	}
	for seq := int64(1); ; seq++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(req.GetMessage()) > MaxEchoLength {
			return status.Errorf(codes.InvalidArgument, "message %d is %d bytes, more than the %d-byte limit", seq, len(req.GetMessage()), MaxEchoLength)
		}
		if err := stream.Send(&mtlsv1.EchoStreamResponse{Message: req.GetMessage(), Sequence: seq, Caller: p.Name()}); err != nil {
			return err
		}
	}
}

func callerOf(ctx context.Context) (Peer, error) {
	p, ok := PeerFromContext(ctx)
	if !ok {
		return Peer{}, status.Error(codes.Unauthenticated, "no verified client certificate on this connection")
	}
	return p, nil
}

func addrString(p Peer) string {
	if p.Addr == nil {
		return ""
	}
	return p.Addr.String()
}

// CertificateMessage converts an identity to its protobuf form.
func CertificateMessage(id pki.Identity) *mtlsv1.Certificate {
	ips := make([]string, len(id.IPAddresses))
	for i, ip := range id.IPAddresses {
		ips[i] = ip.String()
	}
	return &mtlsv1.Certificate{
		Subject:           id.Subject,
		CommonName:        id.CommonName,
		DnsNames:          id.DNSNames,
		IpAddresses:       ips,
		Uris:              id.URIs,
		Serial:            id.Serial,
		Issuer:            id.Issuer,
		NotBefore:         timestamppb.New(id.NotBefore),
		NotAfter:          timestamppb.New(id.NotAfter),
		Sha256Fingerprint: id.Fingerprint,
	}
}
