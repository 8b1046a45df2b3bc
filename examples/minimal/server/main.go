// Command server is the bare mutual TLS pattern for a gRPC server: its
// own certificate and key, the CA that client certificates must chain to,
// RequireAndVerifyClientCert, and the verified client read in a handler.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

type echoServer struct {
	mtlsv1.UnimplementedDemoServiceServer
}

func (echoServer) Echo(ctx context.Context, req *mtlsv1.EchoRequest) (*mtlsv1.EchoResponse, error) {
	// The handshake verified the client's chain; its leaf names the caller.
	p, _ := peer.FromContext(ctx)
	leaf := p.AuthInfo.(credentials.TLSInfo).State.VerifiedChains[0][0]
	caller := leaf.Subject.CommonName
	if len(leaf.URIs) > 0 {
		caller = leaf.URIs[0].String() // a SPIFFE ID such as spiffe://example.org/billing
	}
	fmt.Printf("call from %s (serial %x)\n", caller, leaf.SerialNumber)
	return &mtlsv1.EchoResponse{Message: req.GetMessage(), Caller: caller}, nil
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to listen on")
	certFile := flag.String("cert", "server.crt", "server certificate (PEM, with intermediates)")
	keyFile := flag.String("key", "server.key", "server private key (PEM)")
	caFile := flag.String("ca", "ca.crt", "CA certificates that client certificates must chain to (PEM)")
	flag.Parse()

	keystore, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		log.Fatalf("load keystore %s, %s: %v", *certFile, *keyFile, err)
	}
	caPEM, err := os.ReadFile(*caFile)
	if err != nil {
		log.Fatalf("load truststore: %v", err)
	}
	truststore := x509.NewCertPool()
	if !truststore.AppendCertsFromPEM(caPEM) {
		log.Fatalf("load truststore %s: no PEM certificate found", *caFile)
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{keystore},
		ClientAuth:   tls.RequireAndVerifyClientCert, // no verified client certificate, no connection
		ClientCAs:    truststore,
		MinVersion:   tls.VersionTLS13,
	}

	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen on %s: %v", *listen, err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(cfg)))
	mtlsv1.RegisterDemoServiceServer(srv, echoServer{})
	fmt.Printf("listening on %s\n", lis.Addr())
	log.Fatal(srv.Serve(lis))
}
