/*
 * xml — a tiny streaming XML writer for protocol responses (AWS query
 * protocol), appending to a caller's buf_t. It writes elements, their
 * attributes and escaped text; nothing is buffered but the names of the open
 * elements, and there is no reader. Misuse (closing what is not open, an
 * attribute after content) is a programming error and aborts.
 *
 * Escaping follows what AWS SQS puts on the wire (observed by moto and
 * LocalStack against real SQS, see moto PR #4729 / LocalStack PR #5298):
 *   &  <  >  "  '   ->  &amp; &lt; &gt; &quot; &apos;
 *   CR              ->  &#xD;   (a literal CR would be normalised away by
 *                                every XML parser, turning "\r\n" into "\n")
 *   LF, TAB         ->  themselves (parsers keep them in element text)
 * Whether AWS writes ' as &apos; is not known; both parse to the same text.
 * Characters XML 1.0 cannot carry at all (C0 controls other than TAB/LF/CR,
 * U+FFFE, U+FFFF, surrogates) and bytes that are not well-formed UTF-8 are
 * written as U+FFFD, so the document always parses. Real SQS refuses such
 * text at SendMessage (InvalidMessageContents; the engine checks with
 * text_xml_chars_ok), so the replacement is a last line of defence, not a
 * behaviour.
 *
 * An element with nothing inside is written self-closed (<Name/>), as AWS
 * does for an empty <ReceiveMessageResult/>.
 */
#ifndef SLUICE_XML_H
#define SLUICE_XML_H

#include <stddef.h>

#include "util/buf.h"

#define XML_MAX_DEPTH 32

typedef struct xml {
    buf_t *out;
    int depth;
    int tag_open; /* a start tag is written up to its attributes: '>' still due */
    const char *stack[XML_MAX_DEPTH];
} xml_t;

/* Starts a writer appending to out (which the caller owns). */
void xml_init(xml_t *x, buf_t *out);
/* Writes <?xml version="1.0"?>; only as the very first thing. */
void xml_declaration(xml_t *x);
/*
 * Starts element name. name is not copied: it must stay valid until the
 * matching xml_close (string literals and static tables are). Nesting deeper
 * than XML_MAX_DEPTH is a programming error and aborts.
 */
void xml_open(xml_t *x, const char *name);
/* Adds an attribute (value escaped) to the element just opened, before any content. */
void xml_attr(xml_t *x, const char *name, const char *value);
/* Writes s[0..n) as escaped character data inside the current element; even
 * with n == 0 the element then counts as having content (<a></a>). */
void xml_text(xml_t *x, const char *s, size_t n);
/* Ends the innermost open element (self-closed when it is empty). */
void xml_close(xml_t *x);
/* <name>text</name>, text a C string. */
void xml_leaf(xml_t *x, const char *name, const char *text);
/* Ends every element still open; the document is then complete. */
void xml_finish(xml_t *x);

/* Appends s[0..n) to out escaped as described above (element text or attribute value). */
void xml_escape(buf_t *out, const char *s, size_t n);
/*
 * Appends s[0..n) to out with every byte that is not part of well-formed
 * UTF-8 replaced by U+FFFD; everything else, controls included, is copied
 * as is. The result is well-formed UTF-8, as JSON strings must be.
 */
void xml_utf8_scrub(buf_t *out, const char *s, size_t n);

#endif
