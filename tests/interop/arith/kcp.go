package arith

import (
	"crypto/sha1"

	kcp "github.com/xtaci/kcp-go"
	"golang.org/x/crypto/pbkdf2"
)

// KCPBlock is the block crypt of the rpcx kcp examples: AES-256 with the key
// pbkdf2(sha1, password, "rpcx-salt", 4096, 32) (the interop contract's --kcp-key).
func KCPBlock(password string) (kcp.BlockCrypt, error) {
	key := pbkdf2.Key([]byte(password), []byte("rpcx-salt"), 4096, 32, sha1.New)
	return kcp.NewAESBlockCrypt(key)
}

// KCPStats is kcp-go's process-wide FEC and checksum counters, for tests that check FEC recovered shards.
func KCPStats() (fecRecovered, fecParityShards, inCsumErrors uint64) {
	s := kcp.DefaultSnmp.Copy()
	return s.FECRecovered, s.FECParityShards, s.InCsumErrors
}
