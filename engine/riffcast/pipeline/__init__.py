"""The stream's core: the producer asks a generator for image after image along the walk
(``producer``, on its thread in ``producer_thread``); the stream schedule (``schedule``, sans I/O:
its one ``ledger`` of images, ``lead``, ``records``, ``layout``) places them in the stream, has the
assembly stitch them into PCM (``assembly``, ``stitcher``) held in a ring by absolute position
(``ring``), repeats the last image when the generator is late and rewinds for a steer; ``feed`` runs
it on its threads for the station, ``render`` drives it synchronously offline. Imports steering,
generation and dsp; never delivery or station."""
