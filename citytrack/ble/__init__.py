"""Pure BLE advertisement codecs: no radio, no I/O.

    adstructs   AD structures <-> AdFields (what bleak's AdvertisementData carries)
    hci         HCI LE advertising report events -> AD bytes, address, RSSI
    frames      AdFields <-> iBeacon, AltBeacon, Eddystone UID/EID/TLM/URL frames
    urls        Eddystone-URL compression
    eid         Eddystone-EID computation and resolution (needs ``cryptography``)
    tool        one hex input -> what a station decodes, as JSON (``citytrack ble decode``)

Errors::

    ValueError
      AdError       malformed advertising data (.offset, .reason)
      HciError      malformed HCI advertising report event (.offset, .reason)

Frame decoding itself never raises: payloads that do not fit are skipped and counted.
"""
