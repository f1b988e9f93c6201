def track_audio(request, pk):
    raise NotImplementedError
