// cbor-x loads cbor-extract inside try/catch and falls back to its JavaScript decoder when it throws.
throw new Error('cbor-extract is not installed in Cairn builds; cbor-x uses its JavaScript decoder')
