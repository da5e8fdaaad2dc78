package keys

import "errors"

const base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// errBase58 reports a character outside the base58 alphabet.
var errBase58 = errors.New("not base58")

// base58Index maps a byte to its digit value, or -1 outside the alphabet.
var base58Index = func() [256]int8 {
	var t [256]int8
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base58Alphabet); i++ {
		t[base58Alphabet[i]] = int8(i)
	}
	return t
}()

// EncodeBase58 encodes b with the Bitcoin alphabet (no 0, O, I, l), keeping
// leading zero bytes as leading '1's.
func EncodeBase58(b []byte) string {
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	// log(256)/log(58) < 1.37
	out := make([]byte, 0, len(b)*137/100+1)
	digits := make([]byte, 0, len(b)*137/100+1)
	for _, v := range b[zeros:] {
		carry := int(v)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	for range zeros {
		out = append(out, '1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		out = append(out, base58Alphabet[digits[i]])
	}
	return string(out)
}

// DecodeBase58 is the inverse of EncodeBase58: leading '1's become leading
// zero bytes, so DecodeBase58(EncodeBase58(b)) == b for every b.
func DecodeBase58(s string) ([]byte, error) {
	zeros := 0
	for zeros < len(s) && s[zeros] == '1' {
		zeros++
	}
	// log(58)/log(256) < 0.74
	num := make([]byte, 0, len(s)*74/100+1) // little-endian base-256 digits
	for i := zeros; i < len(s); i++ {
		d := base58Index[s[i]]
		if d < 0 {
			return nil, errBase58
		}
		carry := int(d)
		for j := range num {
			carry += int(num[j]) * 58
			num[j] = byte(carry)
			carry >>= 8
		}
		for carry > 0 {
			num = append(num, byte(carry))
			carry >>= 8
		}
	}
	out := make([]byte, zeros, zeros+len(num))
	for i := len(num) - 1; i >= 0; i-- {
		out = append(out, num[i])
	}
	return out, nil
}
