"""The stream's core: the producer asks a generator for image after image along the walk
(``producer``, on its thread in ``producer_thread``), the feed places them in the stream
(``feed``, its one ``ledger`` of images, ``lead``, ``records``, ``layout``) and the assembly stitches them into PCM
(``assembly``, ``stitcher``) held in a ring by absolute position (``ring``); ``render`` drives
the same path offline. Imports steering, generation and dsp; never delivery or station."""
