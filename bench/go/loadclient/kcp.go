//go:build kcp

package main

import (
	"crypto/sha1"

	kcp "github.com/xtaci/kcp-go"
	"golang.org/x/crypto/pbkdf2"
)

// with -tags kcp (rpcx's kcp network): -proto arith -network kcp dials kcp@ with the rpcx
// examples' block crypt, pbkdf2(sha1, -kcp-key, "rpcx-salt", 4096, 32) -> AES-256.
func init() {
	kcpBlock = func(password string) (interface{}, error) {
		return kcp.NewAESBlockCrypt(pbkdf2.Key([]byte(password), []byte("rpcx-salt"), 4096, 32, sha1.New))
	}
}
