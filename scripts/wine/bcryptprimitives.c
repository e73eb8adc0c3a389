/*
 * bcryptprimitives.dll for Debian 12's Wine 8.0, which lacks it: Go's runtime
 * (1.24 and later) gets its random numbers from ProcessPrng there and will
 * not start without it ("fatal error: bcryptprimitives.dll not found").
 * Windows 10 and later have the real one; this is only for running the
 * Windows build under Wine in make e2e (scripts/e2e-wine.sh), which compiles
 * it with Debian's mingw-w64 and puts it in the Wine prefix's system32.
 * ProcessPrng fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), Wine's system random generator.
 */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!SystemFunction036(data, n)) return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
