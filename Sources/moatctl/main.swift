print("moatctl")
