// Command client is the bare mutual TLS pattern for a gRPC client: its own
// certificate and key, the CA that the server's certificate must chain
// to, and one call.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	mtlsv1 "github.com/grpc-mtls/grpc-mtls/proto/mtls/v1"
)

func main() {
	addr := flag.String("addr", "localhost:8443", "server address")
	certFile := flag.String("cert", "client.crt", "client certificate (PEM, with intermediates)")
	keyFile := flag.String("key", "client.key", "client private key (PEM)")
	caFile := flag.String("ca", "ca.crt", "CA certificates that the server's certificate must chain to (PEM)")
	serverName := flag.String("server-name", "localhost", "name the server's certificate must contain")
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
		RootCAs:      truststore,
		ServerName:   *serverName,
		MinVersion:   tls.VersionTLS13,
	}

	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		log.Fatalf("dial %s: %v", *addr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reply, err := mtlsv1.NewDemoServiceClient(conn).Echo(ctx, &mtlsv1.EchoRequest{Message: "hello"})
	if err != nil {
		log.Fatalf("call %s: %v", *addr, err)
	}
	fmt.Printf("server replied %q to caller %s\n", reply.GetMessage(), reply.GetCaller())
}
