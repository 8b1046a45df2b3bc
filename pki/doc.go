// Package pki creates and loads the certificates and keys that mutual TLS
// needs, and builds the matching tls.Config for each side.
//
// It covers the whole life of a small private PKI: a self-signed CA
// (NewCA), server and client leaf certificates signed by it (CA.Issue),
// PEM and PKCS#12 files for keystores and truststores (Init, WriteFile,
// EncodeKeystore, EncodeTruststore), loading them back (LoadKeystore,
// LoadTruststore) and the TLS settings both sides of an mTLS connection
// use (ServerTLSConfig, ClientTLSConfig).
//
// A root CA can sign an intermediate CA (CA.NewIntermediate) that issues
// the leaves day to day, and a CA revokes certificates by publishing a CRL
// (PublishCRL) that servers check at each handshake (LoadCRLs,
// WatchCRLs, RevocationCheck).
//
// A keystore is what a side presents: its own certificate, the chain up to
// the CA and its private key. A truststore is what a side accepts: the CA
// certificates that may sign the peer's certificate. The server's
// truststore decides which clients get in; the client's truststore decides
// which servers it talks to.
//
// Typical use on the server:
//
//	ks, err := pki.LoadKeystore(pki.KeystoreSource{CertFile: "server.crt", KeyFile: "server.key"})
//	if err != nil { ... }
//	ts, err := pki.LoadTruststore(pki.TruststoreSource{File: "ca.crt"})
//	if err != nil { ... }
//	cfg, err := pki.ServerTLSConfig(ks, ts, pki.TLSOptions{})
//
// The package never logs and never exits; errors name the file involved.
package pki
