package csvfile

// cp1252 gives the character each byte 0x80-0xFF stands for in Windows-1252
// (0 where it stands for none), to show in a "not UTF-8" message what the
// operator's editor would have shown.
var cp1252 = func() (t [256]rune) {
	hi := []rune{
		'€', 0, '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', 0, 'Ž', 0,
		0, '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', 0, 'ž', 'Ÿ',
	}
	copy(t[0x80:], hi)
	for b := 0xA0; b <= 0xFF; b++ {
		t[b] = rune(b) // Latin-1
	}
	return t
}()
