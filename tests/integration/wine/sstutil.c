/* sstutil: a small Windows program over crypt32, run under Wine by
 * tests/integration/test_sst_wine.py to read and write Microsoft serialized
 * certificate stores (.sst) with an implementation that is not vedette's.
 *
 *   sstutil list FILE
 *       Opens FILE with CertOpenStore(CERT_STORE_PROV_FILENAME_W) and prints,
 *       for each certificate, one line "cert <SHA-1 of its DER> <DER length>"
 *       (the hash computed here with CryptHashCertificate, not read from a
 *       property), then one line per property "prop <id> <value in hex>"
 *       (for the key provider info, "prop 2 type=T;spec=S;container=C;provider=P"),
 *       then "crls N" and "end".
 *   sstutil elements FILE
 *       Same listing, but each element (properties + context) is handed to
 *       CertAddSerializedElementToStore, the per-element reader.  FILE must
 *       hold the 8-byte header and then elements; the boundaries are found
 *       by walking the 12-byte element headers, and an element ends with a
 *       certificate (0x20), CRL (0x21) or CTL (0x22) entry.
 *   sstutil save OUT [OPTIONS] DER...
 *       Adds each DER certificate to a memory store, sets the properties the
 *       options ask for on the first one, then writes the store with
 *       CertSaveStore(CERT_STORE_SAVE_AS_STORE) to OUT.  Options:
 *         --name FRIENDLY          CERT_FRIENDLY_NAME_PROP_ID
 *         --keyprov CONTAINER CSP  CERT_KEY_PROV_INFO_PROP_ID (PROV_RSA_SCHANNEL,
 *                                  AT_KEYEXCHANGE)
 *         --eku OID                CertAddEnhancedKeyUsageIdentifier
 *         --prop ID HEX            any property id, its value in hex
 *
 * Exit status: 0 on success, 2 on a usage error, 1 when a call fails (the
 * failing call and GetLastError() are printed on stderr).
 */
#include <windows.h>
#include <wincrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

static int fail(const char *what)
{
    fprintf(stderr, "%s failed: 0x%08lx\n", what, (unsigned long)GetLastError());
    return 1;
}

static void print_hex(const BYTE *p, DWORD n)
{
    DWORD i;
    for (i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static int list_store(HCERTSTORE store)
{
    PCCERT_CONTEXT cert = NULL;
    PCCRL_CONTEXT crl = NULL;
    DWORD crls = 0;

    while ((cert = CertEnumCertificatesInStore(store, cert)) != NULL) {
        BYTE sha1[20];
        DWORD size = sizeof(sha1);
        DWORD prop = 0;

        if (!CryptHashCertificate(0, CALG_SHA1, 0, cert->pbCertEncoded,
                                  cert->cbCertEncoded, sha1, &size))
            return fail("CryptHashCertificate");
        printf("cert ");
        print_hex(sha1, size);
        printf(" %lu\n", (unsigned long)cert->cbCertEncoded);
        while ((prop = CertEnumCertificateContextProperties(cert, prop)) != 0) {
            DWORD len = 0;
            BYTE *buf;

            if (!CertGetCertificateContextProperty(cert, prop, NULL, &len)) {
                printf("prop %lu ?\n", (unsigned long)prop);
                continue;
            }
            buf = malloc(len ? len : 1);
            if (!buf)
                return fail("malloc");
            if (!CertGetCertificateContextProperty(cert, prop, buf, &len)) {
                printf("prop %lu ?\n", (unsigned long)prop);
            } else if (prop == CERT_KEY_PROV_INFO_PROP_ID) {
                /* a structure with pointers: its fields, strings in UTF-8 */
                const CRYPT_KEY_PROV_INFO *info = (const CRYPT_KEY_PROV_INFO *)buf;
                char container[256] = "", provider[256] = "";

                if (info->pwszContainerName)
                    WideCharToMultiByte(CP_UTF8, 0, info->pwszContainerName, -1, container,
                                        sizeof(container), NULL, NULL);
                if (info->pwszProvName)
                    WideCharToMultiByte(CP_UTF8, 0, info->pwszProvName, -1, provider,
                                        sizeof(provider), NULL, NULL);
                printf("prop %lu type=%lu;spec=%lu;container=%s;provider=%s\n",
                       (unsigned long)prop, (unsigned long)info->dwProvType,
                       (unsigned long)info->dwKeySpec, container, provider);
            } else {
                printf("prop %lu ", (unsigned long)prop);
                print_hex(buf, len);
                printf("\n");
            }
            free(buf);
        }
    }
    while ((crl = CertEnumCRLsInStore(store, crl)) != NULL)
        crls++;
    printf("crls %lu\nend\n", (unsigned long)crls);
    return 0;
}

static int cmd_list(const wchar_t *path)
{
    HCERTSTORE store = CertOpenStore(CERT_STORE_PROV_FILENAME_W, X509_ASN_ENCODING, 0,
                                     CERT_STORE_OPEN_EXISTING_FLAG | CERT_STORE_READONLY_FLAG,
                                     path);
    int rc;

    if (!store)
        return fail("CertOpenStore");
    rc = list_store(store);
    CertCloseStore(store, 0);
    return rc;
}

static BYTE *read_all(const wchar_t *path, DWORD *size)
{
    FILE *f = _wfopen(path, L"rb");
    BYTE *data;
    long n;

    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    data = malloc(n ? n : 1);
    if (data && fread(data, 1, n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = (DWORD)n;
    return data;
}

static DWORD le32(const BYTE *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((DWORD)p[3] << 24);
}

static int cmd_elements(const wchar_t *path)
{
    DWORD size = 0, pos = 8, start = 8;
    BYTE *data = read_all(path, &size);
    HCERTSTORE store;
    int rc;

    if (!data || size < 8)
        return fail("reading the file");
    store = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, NULL);
    if (!store)
        return fail("CertOpenStore(memory)");
    while (pos + 12 <= size) {
        DWORD id = le32(data + pos), len = le32(data + pos + 8);

        if (id == 0 || len > size - pos - 12)
            break;
        pos += 12 + len;
        if (id == 0x20 || id == 0x21 || id == 0x22) {
            if (!CertAddSerializedElementToStore(store, data + start, pos - start,
                                                 CERT_STORE_ADD_ALWAYS, 0,
                                                 CERT_STORE_ALL_CONTEXT_FLAG, NULL, NULL))
                return fail("CertAddSerializedElementToStore");
            start = pos;
        }
    }
    free(data);
    rc = list_store(store);
    CertCloseStore(store, 0);
    return rc;
}

static int hexval(wchar_t c)
{
    if (c >= L'0' && c <= L'9') return c - L'0';
    if (c >= L'a' && c <= L'f') return c - L'a' + 10;
    if (c >= L'A' && c <= L'F') return c - L'A' + 10;
    return -1;
}

/* Properties set on the first certificate, from the options of "save". */
struct first_props {
    const wchar_t *name;
    const wchar_t *container, *provider;
    const char *eku;
    DWORD prop_id;
    const wchar_t *prop_hex;
};

static int set_first_props(PCCERT_CONTEXT cert, const struct first_props *p)
{
    if (p->name) {
        CRYPT_DATA_BLOB blob;
        blob.cbData = (DWORD)((wcslen(p->name) + 1) * sizeof(wchar_t));
        blob.pbData = (BYTE *)p->name;
        if (!CertSetCertificateContextProperty(cert, CERT_FRIENDLY_NAME_PROP_ID, 0, &blob))
            return fail("CertSetCertificateContextProperty(friendly name)");
    }
    if (p->container) {
        CRYPT_KEY_PROV_INFO info;
        memset(&info, 0, sizeof(info));
        info.pwszContainerName = (LPWSTR)p->container;
        info.pwszProvName = (LPWSTR)p->provider;
        info.dwProvType = PROV_RSA_SCHANNEL;
        info.dwKeySpec = AT_KEYEXCHANGE;
        if (!CertSetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
            return fail("CertSetCertificateContextProperty(key provider info)");
    }
    if (p->eku && !CertAddEnhancedKeyUsageIdentifier(cert, p->eku))
        return fail("CertAddEnhancedKeyUsageIdentifier");
    if (p->prop_hex) {
        size_t n = wcslen(p->prop_hex) / 2, i;
        BYTE *value = malloc(n ? n : 1);
        CRYPT_DATA_BLOB blob;

        if (!value)
            return fail("malloc");
        for (i = 0; i < n; i++) {
            int hi = hexval(p->prop_hex[2 * i]), lo = hexval(p->prop_hex[2 * i + 1]);
            if (hi < 0 || lo < 0)
                return fail("a hex value");
            value[i] = (BYTE)(hi * 16 + lo);
        }
        blob.cbData = (DWORD)n;
        blob.pbData = value;
        if (!CertSetCertificateContextProperty(cert, p->prop_id, 0, &blob))
            return fail("CertSetCertificateContextProperty(--prop)");
        free(value);
    }
    return 0;
}

static int cmd_save(int argc, wchar_t **argv)
{
    const wchar_t *out = argv[0];
    struct first_props props;
    static char eku[128];
    HCERTSTORE store;
    int i = 1, first = 1;

    memset(&props, 0, sizeof(props));
    while (i < argc && wcsncmp(argv[i], L"--", 2) == 0) {
        if (wcscmp(argv[i], L"--name") == 0 && i + 1 < argc) {
            props.name = argv[i + 1];
            i += 2;
        } else if (wcscmp(argv[i], L"--keyprov") == 0 && i + 2 < argc) {
            props.container = argv[i + 1];
            props.provider = argv[i + 2];
            i += 3;
        } else if (wcscmp(argv[i], L"--eku") == 0 && i + 1 < argc) {
            WideCharToMultiByte(CP_ACP, 0, argv[i + 1], -1, eku, sizeof(eku), NULL, NULL);
            props.eku = eku;
            i += 2;
        } else if (wcscmp(argv[i], L"--prop") == 0 && i + 2 < argc) {
            props.prop_id = (DWORD)wcstoul(argv[i + 1], NULL, 0);
            props.prop_hex = argv[i + 2];
            i += 3;
        } else {
            fprintf(stderr, "unknown option\n");
            return 2;
        }
    }
    store = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, NULL);
    if (!store)
        return fail("CertOpenStore(memory)");
    for (; i < argc; i++) {
        DWORD size = 0;
        BYTE *der = read_all(argv[i], &size);
        PCCERT_CONTEXT cert = NULL;

        if (!der)
            return fail("reading a certificate");
        if (!CertAddEncodedCertificateToStore(store, X509_ASN_ENCODING, der, size,
                                              CERT_STORE_ADD_ALWAYS, &cert))
            return fail("CertAddEncodedCertificateToStore");
        if (first && set_first_props(cert, &props))
            return 1;
        first = 0;
        CertFreeCertificateContext(cert);
        free(der);
    }
    if (!CertSaveStore(store, X509_ASN_ENCODING, CERT_STORE_SAVE_AS_STORE,
                       CERT_STORE_SAVE_TO_FILENAME_W, (void *)out, 0))
        return fail("CertSaveStore");
    CertCloseStore(store, 0);
    printf("saved\n");
    return 0;
}

int wmain(int argc, wchar_t **argv)
{
    if (argc == 3 && wcscmp(argv[1], L"list") == 0)
        return cmd_list(argv[2]);
    if (argc == 3 && wcscmp(argv[1], L"elements") == 0)
        return cmd_elements(argv[2]);
    if (argc >= 4 && wcscmp(argv[1], L"save") == 0)
        return cmd_save(argc - 2, argv + 2);
    fprintf(stderr, "usage: sstutil list FILE | elements FILE | save OUT [OPTIONS] DER...\n");
    return 2;
}
